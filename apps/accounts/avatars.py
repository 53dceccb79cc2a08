"""Avatar images: checked for their real format and size, then decoded and written again.

Writing the pixels again drops everything else the upload carried: EXIF (camera, GPS position), text chunks,
and bytes appended after the image (a file that is both a PNG and an HTML page). A file that does not decode
fully is refused rather than stored broken.
"""

from __future__ import annotations

import io

from PIL import Image, ImageOps, UnidentifiedImageError

from apps.accounts.exceptions import AvatarRejected

MAX_SIDE = 4096
UNREADABLE = "The file is not an image that can be read."


def avatar_clean(*, content: bytes, allowed: list[str]) -> tuple[bytes, str]:
    """Return (re-encoded bytes, file extension) or raise AvatarRejected with a message for the client."""
    try:
        with Image.open(io.BytesIO(content)) as image:
            kind = (image.format or "").lower()
            if kind not in allowed:
                raise AvatarRejected(f"Avatar images must be {', '.join(allowed)}; this one is {kind}.")
            width, height = image.size
            if width > MAX_SIDE or height > MAX_SIDE:
                raise AvatarRejected(f"The image is {width}x{height}; at most {MAX_SIDE} per side.")
            upright = ImageOps.exif_transpose(image)  # keep the orientation the EXIF tag gave, without the tag
            output = io.BytesIO()
            upright.save(output, format=image.format, **({"quality": 90} if kind == "jpeg" else {}))
    except (UnidentifiedImageError, Image.DecompressionBombError, OSError, SyntaxError, ValueError):
        raise AvatarRejected(UNREADABLE) from None
    return output.getvalue(), "jpg" if kind == "jpeg" else kind
