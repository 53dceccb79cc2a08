"""The template engine of campaigns: Django's template language without what reaches beyond the campaign.

Campaign subjects and bodies are written by staff in the admin or the API and rendered for every subscriber, so they
run on an engine of their own rather than the site's (django.template.engines["django"]), which would let them
`{% include %}` or `{% extends %}` any template of the site, `{% load %}` any tag library of any installed app
(the admin's, the live settings', whatever an app adds later) and, with DEBUG on, `{% debug %}` the context and every
loaded module. This engine has no template loader, no tag library to load, and as builtins Django's own tags and
filters except those:

- include, extends, block, load, debug, url, csrf_token, csp_nonce_attr, querystring, partial, partialdef: they
  reach other templates, other libraries, the URLconf, the request or the settings;
- lorem, center, ljust, rjust: they are given a size, and a size of a billion is a billion characters per recipient.

This module is also that builtin library (`register`), as Django's Engine loads builtins by module path."""

from __future__ import annotations

from django.template import Engine, Library, TemplateSyntaxError, defaultfilters, defaulttags
from django.template.base import Template

FORBIDDEN_TAGS = frozenset(
    {
        "block",
        "csp_nonce_attr",
        "csrf_token",
        "debug",
        "extends",
        "include",
        "load",
        "lorem",
        "partial",
        "partialdef",
        "querystring",
        "url",
    }
)
FORBIDDEN_FILTERS = frozenset({"center", "ljust", "rjust"})

register = Library()
register.tags.update({name: tag for name, tag in defaulttags.register.tags.items() if name not in FORBIDDEN_TAGS})
register.filters.update(
    {name: function for name, function in defaultfilters.register.filters.items() if name not in FORBIDDEN_FILTERS}
)

ALLOWED_TAGS = ", ".join(sorted(register.tags))


class CampaignTemplateEngine(Engine):
    """No loaders, no loadable libraries, and this module's library as the only builtin."""

    default_builtins = [__name__]


engine = CampaignTemplateEngine(dirs=[], app_dirs=False, loaders=[], libraries={}, debug=False, autoescape=True)


def compile_source(source: str) -> Template:
    """The compiled template; TemplateSyntaxError for a syntax error or a tag or filter campaigns do not have (its
    message then lists the tags they have)."""
    try:
        return engine.from_string(source)
    except TemplateSyntaxError as error:
        message = str(error)
        if message.startswith(("Invalid block tag", "Invalid filter")):
            message = (
                f"{message.split('. Did you forget', 1)[0]}. Campaign templates have the tags {ALLOWED_TAGS} and "
                f"Django's filters except {', '.join(sorted(FORBIDDEN_FILTERS))}; they cannot include, extend or "
                "load other templates or tag libraries."
            )
            raise TemplateSyntaxError(message) from None
        raise
