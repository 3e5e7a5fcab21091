"""Every model, re-exported so Alembic sees all tables."""

from forum.models.api import ALL_FEEDS, ApiKey, FeedToken
from forum.models.base import Base, utcnow
from forum.models.category import AUDIENCES, CREATE, LEVEL_NAMES, LEVELS_BY_NAME, NONE, REPLY, SEE, Category
from forum.models.decide import Event, EventRsvp, Poll, PollOption, PollVote, Proposal, ProposalPosition
from forum.models.draft import Draft
from forum.models.moderation import FLAG_NAMES, FLAG_TYPES, Flag, Invitation, ModerationLog
from forum.models.moved import MovedPost
from forum.models.notifications import (
    MUTED,
    NORMAL,
    TRACKING,
    WATCH_LEVEL_NAMES,
    WATCHING,
    CategoryUser,
    EmailToken,
    Notification,
    SearchDocument,
    TopicUser,
    TopicViewMark,
    UserOption,
)
from forum.models.outbox import OutboxItem
from forum.models.pagecache import ContentGeneration
from forum.models.post import (
    LIKE,
    Post,
    PostAction,
    PostRevision,
    PostTranslation,
    PostTranslationLike,
    PostTranslationRevision,
)
from forum.models.topic import Topic
from forum.models.upload import PostUpload, Upload
from forum.models.user import TIERS, RateLimitBucket, SiteSetting, User, UserSession

__all__ = [
    "AUDIENCES", "CREATE", "LEVEL_NAMES", "LEVELS_BY_NAME", "LIKE", "NONE", "REPLY", "SEE", "TIERS",
    "Base", "Category", "OutboxItem", "Post", "PostAction", "PostRevision", "PostTranslation", "PostTranslationLike",
    "PostTranslationRevision", "RateLimitBucket", "SiteSetting",
    "Topic", "User", "UserSession", "utcnow",
]
__all__ += ["ContentGeneration"]
__all__ += ["ALL_FEEDS", "ApiKey", "FeedToken"]
__all__ += ["FLAG_NAMES", "FLAG_TYPES", "Flag", "Invitation", "ModerationLog"]
__all__ += ["Event", "EventRsvp", "Poll", "PollOption", "PollVote", "Proposal", "ProposalPosition"]
__all__ += ["MUTED", "NORMAL", "TRACKING", "WATCHING", "WATCH_LEVEL_NAMES", "CategoryUser", "EmailToken",
            "Notification", "SearchDocument", "TopicUser", "TopicViewMark", "UserOption"]
__all__ += ["MovedPost"]
__all__ += ["Draft"]
__all__ += ["PostUpload", "Upload"]
from forum.models.messages import (  # noqa: E402
    PRIVATE_MESSAGE,
    REGULAR,
    Group,
    GroupUser,
    TopicAllowedGroup,
    TopicAllowedUser,
)

__all__ += ["PRIVATE_MESSAGE", "REGULAR", "Group", "GroupUser", "TopicAllowedGroup", "TopicAllowedUser"]
from forum.models.tags import (  # noqa: E402
    TAG_NAME_MAX,
    CategoryTag,
    CategoryTagGroup,
    Tag,
    TagGroup,
    TagGroupMembership,
    TagUser,
    TopicTag,
)

__all__ += ["TAG_NAME_MAX", "CategoryTag", "CategoryTagGroup", "Tag", "TagGroup", "TagGroupMembership", "TagUser",
            "TopicTag"]
from forum.models.bookmark import Bookmark  # noqa: E402

__all__ += ["Bookmark"]
from forum.models.follows import UserFollow  # noqa: E402
from forum.models.imports import ImportedRecord  # noqa: E402

__all__ += ["ImportedRecord", "UserFollow"]
