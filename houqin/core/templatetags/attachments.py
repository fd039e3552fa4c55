"""``{% attachments_for object %}``: the photos and attachments panel of one row (thumbnails, upload, delete).

    {% load attachments %}
    {% attachments_for object %}

Self-sufficient: it reads the user from the request and shows nothing when the user cannot view the row; upload
and delete appear only with ``change`` on the row. See docs/attachments.md.
"""

from django import template

register = template.Library()


@register.inclusion_tag("core/includes/attachments.html", takes_context=True)
def attachments_for(context, obj):
    from houqin.core.views.attachments import panel_context

    return panel_context(context.get("request"), obj)


@register.simple_tag
def attachment_count(obj) -> int:
    """How many attachments a row has (no permission check: use on a page that already shows the row)."""
    from houqin.core.models.attachments import Attachment

    return Attachment.objects.for_object(obj).count() if obj is not None and obj.pk else 0
