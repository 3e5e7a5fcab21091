"""Files attached to posts: checked, cleaned, stored once by content, and served only to those who
may see a post that refers to them (permissions.can_fetch_upload).

Storing a file (`store`): its extension must be allowed, its content must be what the extension
says (the type is read from the bytes, never from the name), it must not be empty or larger than
`max_upload_bytes`; an image is decoded with a pixel and frame limit, turned upright by its EXIF
orientation and saved again without any metadata (no GPS position or camera ever leaves the
server), and one wider than `optimized_image_width` gets a smaller copy for display. The file is
then named by the SHA-1 of what is kept, as Discourse names uploads, so identical files are stored
once; files are written to a temporary name and renamed into place, so a crash leaves no half file
under a real name.

Posts refer to files with Discourse's markdown, `![alt|WxH](upload://<base62 sha1>.<ext>)` for
images and `[name|attachment](upload://….<ext>)` for other files; cooking resolves them
(`resolver`) and `link_post` records which files a post refers to, after every write of its text.
"""

from __future__ import annotations

import functools
import hashlib
import io
import logging
import os
import re
import tempfile
import warnings
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

import filetype
from sqlalchemy import delete, exists, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from forum import outbox, pagecache, permissions, policy
from forum.config import Settings
from forum.errors import ForumError, NotFound, ValidationFailed
from forum.i18n import _
from forum.models import Draft, PostUpload, Upload, User
from forum.permissions import Viewer
from forum.ratelimit import RateLimiter

if TYPE_CHECKING:
    from PIL import Image

BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
IMAGE_TYPES = {"jpg": "image/jpeg", "jpeg": "image/jpeg", "png": "image/png", "gif": "image/gif",
               "webp": "image/webp", "avif": "image/avif"}
# Phones' HEIC/HEIF photos are turned into JPEG, which every browser shows.
CONVERTED = {"heic": ("image/heic", "image/heif"), "heif": ("image/heif", "image/heic")}
PIL_FORMATS = {"image/jpeg": "JPEG", "image/png": "PNG", "image/gif": "GIF", "image/webp": "WEBP",
               "image/avif": "AVIF"}
OTHER_TYPES = {
    "pdf": "application/pdf",
    "odt": "application/vnd.oasis.opendocument.text",
    "ods": "application/vnd.oasis.opendocument.spreadsheet",
    "odp": "application/vnd.oasis.opendocument.presentation",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "pptx": "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    "csv": "text/csv",
    "txt": "text/plain",
}
# What an Office Open XML file must hold, by extension.
OOXML_PARTS = {"docx": "word/document.xml", "xlsx": "xl/workbook.xml", "pptx": "ppt/presentation.xml"}
KEEP_INFO = ("transparency", "duration", "loop", "background", "icc_profile")  # no metadata but these
CHUNK = 1024 * 1024
log = logging.getLogger("forum.uploads")
SHORT_RE = re.compile(r"^([0-9A-Za-z]{1,40})\.([a-z0-9]{1,10})$")


class TooLarge(ForumError):
    status_code = 413
    error_type = "too_large"


# --- names -----------------------------------------------------------------------------------------

def base62(sha1: str) -> str:
    number, out = int(sha1, 16), ""
    while number:
        number, rest = divmod(number, 62)
        out = BASE62[rest] + out
    return out or "0"


def sha1_of_base62(text: str) -> str | None:
    number = 0
    for ch in text:
        i = BASE62.find(ch)
        if i < 0:
            return None
        number = number * 62 + i
    return f"{number:040x}" if number < 16 ** 40 else None


def short_name(upload: Upload) -> str:
    return f"{base62(upload.sha1)}.{upload.extension}"


def short_url(upload: Upload) -> str:
    return f"upload://{short_name(upload)}"


def original_key(upload: Upload) -> str:
    return f"original/1X/{upload.sha1}.{upload.extension}"


def optimized_key(upload: Upload) -> str | None:
    if not upload.optimized_width:
        return None
    return f"optimized/1X/{upload.sha1}_2_{upload.optimized_width}x{upload.optimized_height}.{upload.extension}"


def url(upload: Upload) -> str:
    return "/uploads/default/" + original_key(upload)


def display_url(upload: Upload) -> str:
    key = optimized_key(upload)
    return "/uploads/default/" + key if key else url(upload)


def is_image(upload: Upload) -> bool:
    return upload.mime_type in PIL_FORMATS


def human_size(size: int) -> str:
    for unit in ("B", "KB", "MB"):
        if size < 1024 or unit == "MB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}".replace(".0 ", " ")
        size /= 1024
    return f"{size} B"


def markdown_for(upload: Upload) -> str:
    """What the composer inserts for this file (Discourse's forms)."""
    name = re.sub(r"[\[\]|\n]", "", upload.original_filename) or "file"
    if is_image(upload):
        alt = name.rsplit(".", 1)[0]
        shown_w, shown_h = shown_size(upload)
        return f"![{alt}|{shown_w}x{shown_h}]({short_url(upload)})"
    return f"[{name}|attachment]({short_url(upload)}) ({human_size(upload.filesize)})"


def shown_size(upload: Upload) -> tuple[int, int]:
    w, h = upload.width or 0, upload.height or 0
    if w > 690:  # Discourse's column width
        return 690, max(1, round(h * 690 / w))
    return w, h


# --- storage ---------------------------------------------------------------------------------------

class LocalStore:
    """Files under one directory (shared by several hosts over NFS, if need be)."""

    def __init__(self, root: Path):
        self.root = root

    def scratch(self) -> Path:
        path = self.root / "tmp"
        path.mkdir(parents=True, exist_ok=True)
        return path

    def path(self, key: str) -> Path:
        return self.root / key

    def exists(self, key: str) -> bool:
        return self.path(key).is_file()

    def put(self, key: str, source: Path) -> None:
        """Move `source` (in scratch(), on the same file system) to `key` atomically."""
        target = self.path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.is_file():
            source.unlink(missing_ok=True)  # the same content is already there
            return
        os.replace(source, target)

    def remove(self, key: str) -> None:
        self.path(key).unlink(missing_ok=True)

    def read_bytes(self, key: str) -> bytes:
        return self.path(key).read_bytes()

    def digest(self, key: str) -> str | None:
        """The SHA-1 of what is stored under `key`, or None when nothing is."""
        path = self.path(key)
        return _sha1(path) if path.is_file() else None

    def response(self, key: str, *, media_type: str, headers: dict[str, str], range_header: str | None):
        from starlette.responses import FileResponse

        path = self.path(key)
        if not path.is_file():
            raise NotFound()
        return FileResponse(path, media_type=media_type, headers=headers)  # answers Range itself

    def local_path(self, key: str) -> str | None:
        """Where the file is on this host's disk (None for a store without one)."""
        return str(self.path(key))


class S3Store:
    """Files in a bucket of an S3-compatible store (`FORUM_UPLOADS_S3_BUCKET`), shared by every host.

    Files are checked and cleaned in a local scratch directory first, then sent to the bucket;
    reading goes through the forum (each fetch is checked), streamed, Range passed on."""

    def __init__(self, settings: Settings):
        import boto3

        self.bucket, self.prefix = settings.uploads_s3_bucket, settings.uploads_s3_prefix.strip("/")
        self.client = boto3.client("s3", endpoint_url=settings.uploads_s3_endpoint_url or None,
                                   region_name=settings.uploads_s3_region or None)
        self.local = settings.uploads_path

    def _key(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key

    def scratch(self) -> Path:
        path = self.local / "tmp"
        path.mkdir(parents=True, exist_ok=True)
        return path

    def exists(self, key: str) -> bool:
        from botocore.exceptions import ClientError

        try:
            self.client.head_object(Bucket=self.bucket, Key=self._key(key))
            return True
        except ClientError:
            return False

    def put(self, key: str, source: Path) -> None:
        try:
            if not self.exists(key):
                self.client.upload_file(str(source), self.bucket, self._key(key))
        finally:
            source.unlink(missing_ok=True)

    def remove(self, key: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=self._key(key))

    def read_bytes(self, key: str) -> bytes:
        return self.client.get_object(Bucket=self.bucket, Key=self._key(key))["Body"].read()

    def digest(self, key: str) -> str | None:
        from botocore.exceptions import ClientError

        try:
            body = self.client.get_object(Bucket=self.bucket, Key=self._key(key))["Body"]
        except ClientError:
            return None
        h = hashlib.sha1(usedforsecurity=False)
        for chunk in body.iter_chunks(CHUNK):
            h.update(chunk)
        return h.hexdigest()

    def response(self, key: str, *, media_type: str, headers: dict[str, str], range_header: str | None):
        from botocore.exceptions import ClientError
        from starlette.responses import Response, StreamingResponse

        args = {"Bucket": self.bucket, "Key": self._key(key)}
        if range_header:
            args["Range"] = range_header
        try:
            obj = self.client.get_object(**args)
        except ClientError as e:
            if e.response.get("Error", {}).get("Code") == "InvalidRange":
                return Response(status_code=416, headers=headers)
            raise NotFound() from None
        out = {**headers, "Content-Length": str(obj["ContentLength"]), "Accept-Ranges": "bytes"}
        status = 200
        if obj.get("ContentRange") and range_header:
            out["Content-Range"], status = obj["ContentRange"], 206
        return StreamingResponse(obj["Body"].iter_chunks(64 * 1024), status_code=status, media_type=media_type,
                                 headers=out)

    def local_path(self, key: str) -> str | None:
        return None


_s3_stores: dict[tuple, S3Store] = {}


def store_for(settings: Settings) -> LocalStore | S3Store:
    if settings.uploads_s3_bucket:
        ident = (settings.uploads_s3_bucket, settings.uploads_s3_endpoint_url, settings.uploads_s3_region,
                 settings.uploads_s3_prefix, str(settings.uploads_path))
        if ident not in _s3_stores:
            _s3_stores[ident] = S3Store(settings)
        return _s3_stores[ident]
    return LocalStore(settings.uploads_path)


# --- checking and cleaning -------------------------------------------------------------------------

@dataclass
class Checked:
    path: Path
    extension: str
    mime_type: str
    width: int | None = None
    height: int | None = None
    optimized: Path | None = None
    optimized_size: tuple[int, int] | None = None


def _extension(filename: str) -> str:
    base = Path(filename or "").name
    return base.rsplit(".", 1)[-1].lower() if "." in base else ""


def _copy_limited(source: BinaryIO, target: Path, limit: int) -> int:
    size = 0
    with open(target, "wb") as out:
        while chunk := source.read(CHUNK):
            size += len(chunk)
            if size > limit:
                raise TooLarge(_("This file is larger than %(size)s, the most the forum accepts.",
                                 size=human_size(limit)))
            out.write(chunk)
    return size


def _not_what_it_says(extension: str) -> ValidationFailed:
    return ValidationFailed(_("This file is not really a .%(ext)s file: its content is of another kind.",
                              ext=extension))


def _check_document(path: Path, extension: str) -> str:
    mime = OTHER_TYPES[extension]
    if extension in ("csv", "txt"):
        with open(path, "rb") as f:
            data = f.read(4 * CHUNK)
        if b"\0" in data or filetype.guess(data[:8192]) is not None:
            raise _not_what_it_says(extension)
        try:
            data.decode("utf-8")
        except UnicodeDecodeError as e:
            if e.start < len(data) - 4:  # a character cut at the end of what was read is fine
                raise ValidationFailed(_("A text file must be written in UTF-8.")) from None
        return mime
    if extension == "pdf":
        kind = filetype.guess(str(path))
        if kind is None or kind.mime != "application/pdf":
            raise _not_what_it_says(extension)
        return mime
    try:
        with zipfile.ZipFile(path) as z:
            names = set(z.namelist())
            if extension in OOXML_PARTS:
                ok = "[Content_Types].xml" in names and OOXML_PARTS[extension] in names
            else:
                ok = "mimetype" in names and z.read("mimetype").decode("ascii", "replace").strip() == mime
    except (zipfile.BadZipFile, OSError, KeyError):
        ok = False
    if not ok:
        raise _not_what_it_says(extension)
    return mime


@functools.cache
def _pillow() -> None:
    """Pillow, with the opener of phones' HEIC/HEIF photos registered: imported at the first image a
    process handles, not at start (several MB that a process only showing pages never needs)."""
    import pillow_heif

    pillow_heif.register_heif_opener()


def _clean_image(settings: Settings, path: Path, extension: str, scratch: Path) -> Checked:
    _pillow()
    from PIL import Image, ImageOps, UnidentifiedImageError

    kind = filetype.guess(str(path))
    if extension in CONVERTED:
        if kind is None or kind.mime not in CONVERTED[extension]:
            raise _not_what_it_says(extension)
        source_format, extension = "HEIF", "jpg"
    else:
        if kind is None or kind.mime != IMAGE_TYPES[extension]:
            raise _not_what_it_says(extension)
        source_format = None
    mime = IMAGE_TYPES[extension]
    too_big = ValidationFailed(_("This image is too large: at most %(n)s million pixels.",
                                 n=settings.max_image_pixels // 1_000_000))
    Image.MAX_IMAGE_PIXELS = settings.max_image_pixels
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as img:
                if img.format != (source_format or PIL_FORMATS[mime]):
                    raise _not_what_it_says(extension)
                if img.width * img.height > settings.max_image_pixels:
                    raise too_big
                frames = getattr(img, "n_frames", 1)
                if frames > settings.max_image_frames:
                    raise ValidationFailed(_("This animation has too many frames: at most %(n)s.",
                                             n=settings.max_image_frames))
                animated = frames > 1
                if animated:
                    img.load()
                    clean = img
                else:
                    clean = ImageOps.exif_transpose(img)  # upright; decodes the pixels
                clean.info = {k: v for k, v in clean.info.items() if k in KEEP_INFO}
                fmt = PIL_FORMATS[mime]
                out = Path(tempfile.mkstemp(dir=scratch, suffix="." + extension)[1])
                _save(clean, out, fmt, animated)
                if fmt == "PNG" and not animated and out.stat().st_size > PNG_TO_JPEG_BYTES and _opaque(clean):
                    # A large opaque PNG is nearly always a photo or a screenshot: as a JPEG it is
                    # several times smaller and looks the same (Discourse does the same).
                    jpeg = Path(tempfile.mkstemp(dir=scratch, suffix=".jpg")[1])
                    _save(clean, jpeg, "JPEG", False)
                    if jpeg.stat().st_size < out.stat().st_size * 0.8:
                        out.unlink(missing_ok=True)
                        out, fmt, extension, mime = jpeg, "JPEG", "jpg", "image/jpeg"
                    else:
                        jpeg.unlink(missing_ok=True)
                checked = Checked(out, extension, mime, clean.width, clean.height)
                if not animated and clean.width > settings.optimized_image_width:
                    w = settings.optimized_image_width
                    h = max(1, round(clean.height * w / clean.width))
                    small = clean.resize((w, h), Image.Resampling.LANCZOS)
                    small.info = {}
                    opt = Path(tempfile.mkstemp(dir=scratch, suffix="." + extension)[1])
                    _save(small, opt, fmt, False)
                    checked.optimized, checked.optimized_size = opt, (w, h)
                return checked
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise too_big from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError):
        raise ValidationFailed(_("This image could not be read: the file is damaged or not an image.")) from None


PNG_TO_JPEG_BYTES = 1024 * 1024


def _opaque(img: Image.Image) -> bool:
    if img.mode in ("RGBA", "LA") or (img.mode == "P" and "transparency" in img.info):
        alpha = img.convert("RGBA").getchannel("A")
        return alpha.getextrema() == (255, 255)
    return True


def _save(img: Image.Image, out: Path, fmt: str, animated: bool) -> None:
    options: dict = {}
    if fmt == "JPEG":
        if img.mode not in ("RGB", "L"):
            img = img.convert("RGB")
        options = {"quality": 90, "optimize": True}
    elif fmt == "PNG":
        options = {"optimize": True}
    elif fmt in ("WEBP", "AVIF"):
        options = {"quality": 90}
    if animated:
        options["save_all"] = True
    icc = img.info.get("icc_profile")
    if icc and fmt != "GIF":
        options["icc_profile"] = icc
    img.save(out, fmt, **options)


# --- the service -----------------------------------------------------------------------------------

@dataclass
class Limits:
    """What this person may attach now: the site's settings (the ceiling) within the admins' policy."""

    max_bytes: int
    extensions: set[str]
    per_day: int


def limits(session: Session | None, settings: Settings, viewer: Viewer, site: policy.Policy | None = None) -> Limits:
    if site is None:
        site = policy.load(session) if session is not None else policy.Policy()
    known = {*IMAGE_TYPES, *OTHER_TYPES, *CONVERTED}
    return Limits(max_bytes=min(settings.max_upload_bytes, site.upload_max_mb * 1024 * 1024),
                  extensions=site.upload_extensions(permissions.upload_tier(viewer))
                  & settings.allowed_extensions & known,
                  per_day=site.uploads_per_day)


def check_quota(limiter: RateLimiter | None, session: Session, viewer: Viewer, allowed: Limits) -> None:
    if limiter is None or permissions.exempt_from_upload_quota(viewer):
        return
    assert viewer.user is not None
    limiter.hit(session, f"upload:{viewer.user.id}", allowed.per_day, 86400,
                _("You have reached today's limit of %(n)s files. Please try again tomorrow.", n=allowed.per_day))


def prepare(settings: Settings, viewer: Viewer, allowed: Limits, *, filename: str, source: BinaryIO) -> Checked:
    """Check and clean a file before anything is recorded (no database work: it may take a while)."""
    permissions.ensure_can_upload(viewer)
    extension = _extension(filename)
    if extension not in allowed.extensions:
        raise ValidationFailed(_("Files of this type cannot be attached. Allowed: %(list)s.",
                                 list=", ".join(sorted(allowed.extensions))))
    scratch = store_for(settings).scratch()
    raw = Path(tempfile.mkstemp(dir=scratch, suffix=".part")[1])
    try:
        size = _copy_limited(source, raw, allowed.max_bytes)
        if size == 0:
            raise ValidationFailed(_("This file is empty."))
        if extension in IMAGE_TYPES or extension in CONVERTED:
            checked = _clean_image(settings, raw, extension, scratch)
            raw.unlink(missing_ok=True)
            return checked
        return Checked(raw, extension, _check_document(raw, extension))
    except BaseException:
        raw.unlink(missing_ok=True)
        raise


def discard(checked: Checked) -> None:
    checked.path.unlink(missing_ok=True)
    if checked.optimized is not None:
        checked.optimized.unlink(missing_ok=True)


def record(session: Session, settings: Settings, viewer: Viewer, checked: Checked, allowed: Limits, *,
           filename: str, limiter: RateLimiter | None = None) -> Upload:
    """Store a prepared file and its row (in the caller's transaction); the same content twice is one
    upload. The quota counts each call."""
    assert viewer.user is not None
    try:
        check_quota(limiter, session, viewer, allowed)
        sha1 = _sha1(checked.path)
        existing = session.scalar(select(Upload).where(Upload.sha1 == sha1))
        store = store_for(settings)
        if existing is not None:
            # The same content again. Its file is put back if it went missing (a restored database
            # beside an emptied directory): the bytes are the same by their SHA-1.
            if not store.exists(original_key(existing)):
                store.put(original_key(existing), checked.path)
            key = optimized_key(existing)
            if key and checked.optimized is not None and not store.exists(key):
                store.put(key, checked.optimized)
            return existing
        name = Path(filename).name or "file"
        if _extension(name) != checked.extension and not (_extension(name) in ("jpg", "jpeg")
                                                          and checked.extension in ("jpg", "jpeg")):
            name = name.rsplit(".", 1)[0] + "." + checked.extension  # IMG_0042.heic or a large PNG, now a JPEG
        upload = Upload(user_id=viewer.user.id, sha1=sha1, original_filename=name[:255],
                        extension=checked.extension, mime_type=checked.mime_type,
                        filesize=checked.path.stat().st_size, width=checked.width, height=checked.height)
        if checked.optimized_size:
            upload.optimized_width, upload.optimized_height = checked.optimized_size
        store.put(original_key(upload), checked.path)
        if checked.optimized is not None:
            key = optimized_key(upload)
            assert key is not None
            store.put(key, checked.optimized)
        try:
            with session.begin_nested():
                session.add(upload)
        except IntegrityError:  # the same file, recorded by another request a moment ago
            found = session.scalar(select(Upload).where(Upload.sha1 == sha1))
            assert found is not None
            return found
        return upload
    finally:
        discard(checked)


def _sha1(path: Path) -> str:
    digest = hashlib.sha1(usedforsecurity=False)
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


# --- profile pictures ------------------------------------------------------------------------------

AVATAR_DIR = "avatars"  # square copies in the sizes pages ask for, made once, kept beside the uploads


def set_avatar(session: Session, settings: Settings, viewer: Viewer, user: User, checked: Checked, allowed: Limits,
               *, filename: str, limiter: RateLimiter | None = None) -> Upload:
    """Make an uploaded image the person's picture (their own, or anyone's for staff)."""
    permissions.ensure_can_edit_profile(viewer, user)
    if checked.mime_type not in PIL_FORMATS:
        discard(checked)
        raise ValidationFailed(_("A profile picture must be an image: JPEG, PNG, GIF, WebP, AVIF or HEIC."))
    upload = record(session, settings, viewer, checked, allowed, filename=filename, limiter=limiter)
    user.uploaded_avatar_id = upload.id
    return upload


def pick_avatar(session: Session, viewer: Viewer, user: User, upload_id: int | None) -> None:
    """Discourse's avatar pick: an image already uploaded (one the viewer may fetch) becomes the picture."""
    permissions.ensure_can_edit_profile(viewer, user)
    upload = session.get(Upload, upload_id) if upload_id else None
    if upload is None or not permissions.can_fetch_upload(session, viewer, upload):
        raise NotFound()
    if not is_image(upload):
        raise ValidationFailed(_("A profile picture must be an image: JPEG, PNG, GIF, WebP, AVIF or HEIC."))
    user.uploaded_avatar_id = upload.id


def clear_avatar(session: Session, viewer: Viewer, user: User) -> None:
    permissions.ensure_can_edit_profile(viewer, user)
    user.uploaded_avatar_id = None


def avatar_png(settings: Settings, upload: Upload, size: int) -> bytes:
    """The picture as a square PNG of `size` pixels (the middle of it), made once per size."""
    cache = settings.uploads_path / AVATAR_DIR / f"{upload.sha1}_{size}.png"
    if cache.is_file():
        return cache.read_bytes()
    _pillow()
    from PIL import Image, ImageOps

    with Image.open(io.BytesIO(store_for(settings).read_bytes(original_key(upload)))) as img:
        square = ImageOps.fit(img.convert("RGBA"), (size, size), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    square.save(out, "PNG", optimize=True)
    cache.parent.mkdir(parents=True, exist_ok=True)
    tmp = cache.with_suffix(f".{os.getpid()}.part")
    tmp.write_bytes(out.getvalue())
    os.replace(tmp, cache)
    return out.getvalue()


# --- posts and files -------------------------------------------------------------------------------

@dataclass
class Ref:
    id: int
    url: str
    display_url: str
    width: int | None
    height: int | None
    is_image: bool


def resolver(session: Session):
    """For cooking: maps `base62.ext` names to the uploads they name (unknown names are left out)."""

    def resolve(names: Iterable[str]) -> dict[str, Ref]:
        wanted: dict[str, str] = {}
        for name in names:
            m = SHORT_RE.match(name)
            sha1 = sha1_of_base62(m.group(1)) if m else None
            if sha1:
                wanted[sha1] = name
        if not wanted:
            return {}
        found: dict[str, Ref] = {}
        for u in session.scalars(select(Upload).where(Upload.sha1.in_(list(wanted)))):
            name = wanted[u.sha1]
            if name.endswith("." + u.extension):
                found[name] = Ref(u.id, url(u), display_url(u), u.width, u.height, is_image(u))
        return found

    return resolve


def link_post(session: Session, post_id: int, upload_ids: Iterable[int]) -> None:
    """Record exactly these files as the ones the post refers to."""
    ids = set(upload_ids)
    session.execute(delete(PostUpload).where(PostUpload.post_id == post_id,
                                             PostUpload.upload_id.not_in(ids) if ids else True))
    have = set(session.scalars(select(PostUpload.upload_id).where(PostUpload.post_id == post_id)))
    for uid in ids - have:
        session.add(PostUpload(post_id=post_id, upload_id=uid))


def attached(session: Session, post_id: int) -> list[Upload]:
    """The files a post refers to, in the order they were first uploaded."""
    return list(session.scalars(select(Upload).join(PostUpload, PostUpload.upload_id == Upload.id)
                                .where(PostUpload.post_id == post_id).order_by(Upload.id)))


def public_files(session: Session, post_ids: list[int]) -> dict[int, Upload]:
    """For feeds: each post's first file that a reader without an account may fetch (a feed reader
    sends no session, so a file only members may fetch is no use to it, and is not named)."""
    if not post_ids:
        return {}
    anonymous = Viewer(user=None)
    found: dict[int, Upload] = {}
    for post_id, upload in session.execute(select(PostUpload.post_id, Upload).join(Upload, Upload.id == PostUpload.upload_id)
                                           .where(PostUpload.post_id.in_(post_ids))
                                           .order_by(PostUpload.post_id, Upload.id)):
        if post_id not in found and permissions.can_fetch_upload(session, anonymous, upload):
            found[post_id] = upload
    return found


def find(session: Session, sha1: str, extension: str) -> Upload | None:
    upload = session.scalar(select(Upload).where(Upload.sha1 == sha1))
    return upload if upload is not None and upload.extension == extension else None


def fetchable(session: Session, viewer: Viewer, sha1: str, extension: str) -> Upload:
    """The upload, if the viewer may fetch it; 404 otherwise (the same as a file that is not there)."""
    upload = find(session, sha1, extension)
    if upload is None or not permissions.can_fetch_upload(session, viewer, upload):
        raise NotFound()
    return upload


def by_short_name(session: Session, viewer: Viewer, name: str) -> Upload:
    m = SHORT_RE.match(name)
    sha1 = sha1_of_base62(m.group(1)) if m else None
    if not sha1:
        raise NotFound()
    return fetchable(session, viewer, sha1, m.group(2))



# --- upkeep ----------------------------------------------------------------------------------------

ORPHAN_HOURS = 48


def _referenced_by_a_draft(session: Session, upload: Upload) -> bool:
    return session.scalar(select(Draft.id).where(Draft.data.is_not(None), Draft.data.contains(short_name(upload)))
                          .limit(1)) is not None


@outbox.periodic("uploads-orphans", 3600)
def remove_orphans(db, settings: Settings, now: datetime) -> int:
    """Files uploaded more than 48 hours ago that no post, draft or profile refers to are removed, rows
    first, then the files (a file whose row is gone is never served)."""
    cutoff = now - timedelta(hours=ORPHAN_HOURS)
    with db.write() as session:
        pagecache.quiet(session)  # nothing any page shows
        candidates = session.scalars(select(Upload).where(
            Upload.created_at < cutoff, ~exists().where(PostUpload.upload_id == Upload.id),
            ~exists().where(User.uploaded_avatar_id == Upload.id))).all()
        gone = [u for u in candidates if not _referenced_by_a_draft(session, u)]
        keys = [k for u in gone for k in (original_key(u), optimized_key(u)) if k]
        if gone:
            session.execute(delete(Upload).where(Upload.id.in_([u.id for u in gone]),
                                                 ~exists().where(PostUpload.upload_id == Upload.id),
                                                 ~exists().where(User.uploaded_avatar_id == Upload.id)))
    store = store_for(settings)
    for key in keys:
        store.remove(key)
    if gone:
        log.info("removed %d uploaded files no post or draft refers to", len(gone))
    return len(gone)


@dataclass
class Verified:
    checked: int
    missing: list[str]
    damaged: list[str]


def verify(session: Session, settings: Settings) -> Verified:
    """Every recorded file is there and still has the content its name (its SHA-1) says."""
    store = store_for(settings)
    result = Verified(0, [], [])
    for upload in session.scalars(select(Upload).order_by(Upload.id)).yield_per(500):
        result.checked += 1
        digest = store.digest(original_key(upload))
        if digest is None:
            result.missing.append(original_key(upload))
        elif digest != upload.sha1:
            result.damaged.append(original_key(upload))
        key = optimized_key(upload)
        if key and not store.exists(key):
            result.missing.append(key)
    return result
