from houqin.core.navigation import menu_for


def navigation(request):
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    from houqin.core.auth import access_for
    from houqin.core.middleware import current_org
    from houqin.core.models import Organization
    from houqin.core.pagecache import kept_value

    asked: list = []  # read once per request: the layout asks twice (the switch, and whether to show it)

    def org_choices():
        if not asked:
            ids = access_for(user).member_org_ids
            asked.append(list(kept_value(("org_choices", user.pk), lambda: list(
                Organization.objects.filter(pk__in=sorted(ids)).order_by("kind", "name").only("pk", "name")))))
        return list(asked[0])

    return {"nav_menu": lambda: menu_for(user), "current_org": current_org(request), "org_choices": org_choices}
