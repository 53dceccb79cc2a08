"""The catalog: the built-in apps and modules, and how each plugs in. The one place in cfg that names them.

Names are strings; nothing here imports an app or a module. A project adds its own apps with `project_apps` in
config/config.py (docs/apps.md), never by editing this file.
"""

from __future__ import annotations

from cfg.models.apps import AppSpec, MiddlewareSpec
from cfg.models.tasks import PeriodicTaskConfig
from cfg.models.unfold import NavigationItem

# The seven apps with an enable_<name> switch, in INSTALLED_APPS order.
BUILTIN_APPS: tuple[AppSpec, ...] = (
    AppSpec(
        app="apps.accounts",
        title="Accounts",
        # accounts holds AUTH_USER_MODEL: installed even when enable_accounts switches its API off.
        always_installed=True,
        url_prefix="api/",
        urls="apps.accounts.urls",
        middleware=(
            MiddlewareSpec(path="apps.accounts.middleware.LastActivityMiddleware"),
            # Inside Django's own middleware: the lock-out page it puts in place of the admin's login form
            # still passes through them and gets their headers (CSP, X-Frame-Options).
            MiddlewareSpec(path="axes.middleware.AxesMiddleware"),
        ),
        settings="cfg.settings.accounts.accounts_settings",
        provides={
            "admin_login_username": "apps.accounts.admin_login.attempted_username",
            "admin_lockout_response": "apps.accounts.admin_login.lockout_response",
            # The API's JWT authentication (REST_FRAMEWORK's DEFAULT_AUTHENTICATION_CLASSES).
            "jwt_authentication": "apps.accounts.authentication.JWTAuthentication",
        },
        navigation=(
            NavigationItem(title="Users", link="/admin/accounts/user/", icon="person", group="people"),
            NavigationItem(title="Groups", link="/admin/auth/group/", icon="groups", group="people"),
            NavigationItem(title="Sign-in codes", link="/admin/accounts/otprequest/", icon="pin", group="security"),
            NavigationItem(title="Activity", link="/admin/accounts/activitylog/", icon="history", group="security"),
            NavigationItem(
                title="Issued tokens",
                link="/admin/token_blacklist/outstandingtoken/",
                icon="key",
                group="security",
            ),
            NavigationItem(
                title="Revoked tokens",
                link="/admin/token_blacklist/blacklistedtoken/",
                icon="key_off",
                group="security",
            ),
        ),
        dashboard=("apps.accounts.dashboard.people_cards", "apps.accounts.dashboard.sign_in_cards"),
    ),
    AppSpec(
        app="apps.tasks",
        title="Tasks",
        url_prefix="api/tasks/",
        urls="apps.tasks.urls",
        checks={"worker": "apps.tasks.health.check_worker_heartbeat"},
        provides={"task_backend": "apps.tasks.backends.ReArqBackend"},
        navigation=(
            NavigationItem(
                title="Tasks dashboard", link="/admin/tasks/taskrun/dashboard/", icon="monitoring", group="operations"
            ),
            NavigationItem(title="Task runs", link="/admin/tasks/taskrun/", icon="task", group="operations"),
        ),
        dashboard=("apps.tasks.dashboard.task_cards",),
    ),
    AppSpec(
        app="apps.knowbase",
        title="Knowledge base",
        url_prefix="api/knowbase/",
        urls="apps.knowbase.urls",
        settings="cfg.settings.knowbase.knowbase_settings",
        checks={"knowbase": "apps.knowbase.health.check_embedding_column"},
        navigation=(
            NavigationItem(title="Documents", link="/admin/knowbase/document/", icon="description"),
            NavigationItem(title="Search", link="/admin/knowbase/document/search/", icon="search"),
            NavigationItem(title="Categories", link="/admin/knowbase/category/", icon="folder"),
        ),
        dashboard=("apps.knowbase.dashboard.knowbase_cards",),
    ),
    AppSpec(
        app="apps.agents",
        title="Agents",
        url_prefix="api/agents/",
        urls="apps.agents.urls",
        requires=("knowbase", "tasks"),
        settings="cfg.settings.agents.agents_settings",
        navigation=(
            NavigationItem(title="Agents", link="/admin/agents/agentdefinition/", icon="smart_toy"),
            NavigationItem(title="Conversations", link="/admin/agents/conversation/", icon="forum"),
            NavigationItem(title="Runs", link="/admin/agents/agentrun/", icon="play_circle"),
            NavigationItem(title="Pending approvals", link="/admin/agents/pendingapproval/", icon="approval"),
            NavigationItem(title="Tool calls", link="/admin/agents/toolcall/", icon="build"),
        ),
        dashboard=("apps.agents.dashboard.agent_cards",),
    ),
    # Mounted at the root: the API under api/leads/ and the public form under leads/.
    AppSpec(
        app="apps.leads",
        title="Leads",
        urls="apps.leads.urls",
        settings="cfg.settings.leads.leads_settings",
        navigation=(
            NavigationItem(title="Leads", link="/admin/leads/lead/", icon="person_search"),
            NavigationItem(title="Board", link="/admin/leads/lead/board/", icon="view_kanban"),
        ),
        dashboard=("apps.leads.dashboard.lead_cards",),
    ),
    # Mounted at the root: the API under api/newsletter/ and the subscribers' pages under newsletter/.
    AppSpec(
        app="apps.newsletter",
        title="Newsletter",
        urls="apps.newsletter.urls",
        requires=("tasks",),
        settings="cfg.settings.newsletter.newsletter_settings",
        dashboard=("apps.newsletter.dashboard.newsletter_cards",),
        navigation=(
            NavigationItem(title="Campaigns", link="/admin/newsletter/campaign/", icon="campaign"),
            NavigationItem(title="Lists", link="/admin/newsletter/mailinglist/", icon="list"),
            NavigationItem(title="Subscribers", link="/admin/newsletter/subscriber/", icon="group"),
            NavigationItem(title="Suppression list", link="/admin/newsletter/suppression/", icon="block"),
            NavigationItem(title="Consent records", link="/admin/newsletter/consentrecord/", icon="verified_user"),
            NavigationItem(title="Send log", link="/admin/newsletter/delivery/", icon="outgoing_mail"),
        ),
    ),
    AppSpec(
        app="apps.support",
        title="Support",
        url_prefix="api/support/",
        urls="apps.support.urls",
        settings="cfg.settings.support.support_settings",
        periodic={
            "support_sla_check": PeriodicTaskConfig(task="apps.support.tasks.sla_check", cron="* * * * *"),
            "support_auto_close": PeriodicTaskConfig(task="apps.support.tasks.auto_close", cron="17 * * * *"),
        },
        navigation=(
            NavigationItem(title="Ticket queue", link="/admin/support/ticket/", icon="support_agent"),
            NavigationItem(title="Canned replies", link="/admin/support/cannedreply/", icon="quickreply"),
            NavigationItem(title="Ticket categories", link="/admin/support/category/", icon="category"),
        ),
        dashboard=("apps.support.dashboard.support_cards",),
    ),
)

# Integrations the apps use; always installed.
MODULES: tuple[AppSpec, ...] = (
    AppSpec(app="modules.email"),
    AppSpec(app="modules.telegram"),
    AppSpec(app="modules.twilio"),
    # runserver_ngrok and the public URL of this process (docs/ngrok.md); the SDK is a development requirement.
    AppSpec(app="modules.ngrok"),
    # Chat and embeddings (docs/llm.md); a Django app for its record of provider calls.
    AppSpec(
        app="modules.llm",
        navigation=(
            NavigationItem(title="LLM calls", link="/admin/llm/llmcall/", icon="smart_toy", group="operations"),
        ),
    ),
    AppSpec(
        app="modules.health",
        django_app=False,
        urls="modules.health.urls",
        navigation=(NavigationItem(title="Readiness", link="/readyz", icon="monitor_heart", group="operations"),),
    ),
    # The home page at /, the API's root at /api/ and the favicon (a Django app for its templates).
    AppSpec(app="modules.pages", urls="modules.pages.urls"),
    AppSpec(
        # A Django app for its management commands (generate_clients, validate_openapi, check_endpoints).
        app="modules.api",
        provides={
            "exception_handler": "modules.api.errors.exception_handler",
            "json_parser": "modules.api.errors.JSONParser",
            "anon_throttle": "modules.api.throttles.ClientAnonRateThrottle",
            "user_throttle": "modules.api.throttles.ClientUserRateThrottle",
            "pagination": "modules.api.pagination.PageSizePagination",
        },
        navigation=(
            NavigationItem(
                title="API docs",
                link="/api/docs/",
                icon="api",
                group="operations",
                permission="modules.unfold.navigation.api_docs_enabled",
            ),
        ),
    ),
    AppSpec(
        app="modules.logger", django_app=False, provides={"json_formatter": "modules.logger.formatters.JsonFormatter"}
    ),
    AppSpec(
        app="modules.unfold",
        provides={
            "environment_callback": "modules.unfold.callbacks.environment_badge",
            "dashboard_callback": "modules.unfold.dashboard.dashboard_callback",
            "admin_styles": "modules.unfold.callbacks.admin_styles",
        },
        # The admin's own pages: constance's live settings (through unfold.contrib.constance).
        navigation=(
            NavigationItem(title="Live settings", link="/admin/constance/config/", icon="tune", group="settings"),
        ),
        dashboard=("modules.unfold.dashboard.shortcut_cards",),
    ),
    AppSpec(
        app="modules.live_settings",
        # After Django's own middleware: signed-in staff are known (AuthenticationMiddleware) and the 503 page
        # still gets their headers (CSP, X-Frame-Options).
        middleware=(
            MiddlewareSpec(
                path="modules.live_settings.middleware.MaintenanceMiddleware",
                after="cfg.db.middleware.DatabaseBusyMiddleware",
            ),
        ),
        navigation=(
            NavigationItem(
                title="Settings changes",
                link="/admin/live_settings/livesettingchange/",
                icon="manage_history",
                group="settings",
            ),
        ),
    ),
)

BUILTIN_APP_NAMES: tuple[str, ...] = tuple(spec.name for spec in BUILTIN_APPS)


def provided(role: str) -> str:
    """The dotted path that a built-in app or module provides for `role` (see AppSpec.provides)."""
    for spec in (*MODULES, *BUILTIN_APPS):
        if role in spec.provides:
            return spec.provides[role]
    raise LookupError(f"no app or module in the catalog provides {role!r}")
