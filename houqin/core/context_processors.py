from houqin.core.navigation import menu_for


def navigation(request):
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    return {"nav_menu": menu_for(user), "current_org": getattr(request, "org", None)}
