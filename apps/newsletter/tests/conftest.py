from apps.newsletter.tests.audience_fixtures import *  # noqa: F403
from apps.newsletter.tests.campaign_fixtures import *  # noqa: F403
