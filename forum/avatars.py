"""Letter avatars: a person's initials on a colour of their own, drawn as a small SVG.

Everything here is a function of the username alone, never of the account behind it: the image
for a name that nobody holds, or that only staff may see (a sign-up awaiting approval), is drawn
exactly as any other, so the avatar address cannot tell whether an account exists.

The colour comes from a hash of the lower-cased username (stable across processes and releases),
then is darkened until white text on it reaches WCAG's 4.5:1. The address carries `VERSION`, which
changes with the drawing, so browsers may keep each image for a year without asking again.
"""

from __future__ import annotations

import colorsys
import hashlib
import re
from html import escape
from urllib.parse import quote

# Discourse clients ask for the sizes they show times the screen's pixel ratio (20 … 144, × 1–3);
# an SVG scales, so any asked size is answered with the nearest of these and the set stays small.
SIZES = (20, 24, 25, 32, 36, 40, 45, 48, 50, 60, 64, 72, 90, 96, 120, 135, 144, 180, 240)
MIN_CONTRAST = 4.5
TEXT = "ffffff"
_SEPARATORS = re.compile(r"[._-]+")


def initials(username: str) -> str:
    """"A" for ana, "MJ" for mary_jones: the first letter of the first two parts of the name."""
    parts = [p for p in _SEPARATORS.split(username) if p]
    letters = "".join(p[0] for p in parts[:2]) or username[:1] or "?"
    return letters.upper()


def luminance(rgb: str) -> float:
    """WCAG 2.x relative luminance of a colour written `rrggbb`."""
    def channel(c: int) -> float:
        s = c / 255
        return s / 12.92 if s <= 0.04045 else ((s + 0.055) / 1.055) ** 2.4
    r, g, b = (int(rgb[i:i + 2], 16) for i in (0, 2, 4))
    return 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b)


def contrast(a: str, b: str) -> float:
    la, lb = sorted((luminance(a), luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def _hex(h: float, lightness: float, s: float) -> str:
    r, g, b = colorsys.hls_to_rgb(h, max(lightness, 0.0), s)
    return "".join(f"{round(c * 255):02x}" for c in (r, g, b))


def colour(username: str) -> str:
    """The background of a username's avatar, `rrggbb`: any hue, muted, dark enough for white text."""
    digest = hashlib.sha256(username.lower().encode()).digest()
    hue = int.from_bytes(digest[:2], "big") % 360 / 360
    saturation = 0.40 + digest[2] / 255 * 0.30
    lightness = 0.30 + digest[3] / 255 * 0.15
    found = _hex(hue, lightness, saturation)
    while contrast(found, TEXT) < MIN_CONTRAST:  # yellows and greens are light at any lightness
        lightness -= 0.02
        found = _hex(hue, lightness, saturation)
    return found


def text_colour(background: str) -> str:
    """Black or white, whichever reads better on `background`; one of them always reaches 4.5:1."""
    return TEXT if contrast(background, TEXT) >= contrast(background, "000000") else "000000"


def svg(letters: str, background: str, size: int) -> str:
    font = 58 if len(letters) == 1 else 44
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{size}" height="{size}" viewBox="0 0 100 100">'
            f'<rect width="100" height="100" fill="#{background}"/>'
            f'<text x="50" y="50" dy=".35em" text-anchor="middle" font-family="system-ui,Arial,sans-serif" '
            f'font-size="{font}" fill="#{text_colour(background)}">{escape(letters)}</text></svg>')


def letter_avatar(username: str, size: int) -> str:
    return svg(initials(username), colour(username), size)


# Discourse's shape is `<version>_<hash of the renderer>`; ours hashes a sample drawing, so any change
# to the drawing or the colours moves every address and no browser keeps an outdated image.
VERSION = "1_" + hashlib.sha256(letter_avatar("Version.sample", 45).encode()).hexdigest()[:16]


def nearest_size(asked: int) -> int:
    return min(SIZES, key=lambda s: (abs(s - asked), s))


def template(username: str) -> str:
    """Discourse's `avatar_template`: a literal `{size}` the client replaces."""
    return f"/letter_avatar/{quote(username.lower(), safe='')}/{{size}}/{VERSION}.svg"


def url(username: str, size: int) -> str:
    return template(username).replace("{size}", str(nearest_size(size)))
