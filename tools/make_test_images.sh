#!/usr/bin/env bash
# Draws the small test images of tests/fixtures/images/decode/ with ImageMagick (convert), one per format and pixel
# layout the image decoder must handle, and adds EXIF orientation tags with plain Python (no exiftool needed).
# The images are committed: tests never depend on ImageMagick's version. Re-running this script gives images with
# the same content (ImageMagick may change a few bytes of metadata), after which the PIL reference arrays must be
# regenerated on the GPU machine (tools/make_image_fixtures.py, tools/device/vision_fixtures.sh).
#
# Usage: tools/make_test_images.sh [out_dir]     (default tests/fixtures/images/decode)
set -euo pipefail
OUT=${1:-tests/fixtures/images/decode}
mkdir -p "$OUT"
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

# No timestamps or other varying chunks in the files ImageMagick writes.
IM=(convert -define png:exclude-chunks=date,time +set date:create +set date:modify)
strip() { "${IM[@]}" "$@"; }

# Two drawings. base37: 37x23 (odd sizes: chroma subsampling edges; not square: orientation mistakes show),
# a 16-bit gradient (so 16-bit files hold values that are not multiples of 257) with shapes.
# base64: 64x48 with a gradient, shapes and text.
convert -size 37x23 gradient:'#d03010'-'#1040e0' -fill '#f0e020' -draw "circle 9,9 13,13" \
  -fill '#20a040' -draw "rectangle 20,3 33,12" -stroke black -draw "line 0,22 36,4" "$TMP/base37.png"
convert -size 64x48 gradient:'#ffffff'-'#203060' -fill '#e04040' -draw "ellipse 16,30 12,9 0,360" \
  -fill '#40c0a0' -draw "polygon 36,4 60,10 50,30" -font DejaVu-Sans -pointsize 14 -fill '#101010' \
  -annotate +30+44 "Gt" "$TMP/base64.png"
# An alpha channel that varies (left to right 255 -> 0, with a fully transparent square).
convert "$TMP/base37.png" \( -size 23x37 gradient:white-black -rotate 90 -fill black -draw "rectangle 2,2 6,6" \) \
  -alpha off -compose CopyOpacity -composite "$TMP/base37a.png"

# --- JPEG -------------------------------------------------------------------------------------------------------
strip "$TMP/base64.png" -quality 85 "$OUT/photo.jpg"                                  # 4:2:0
strip "$TMP/base37.png" -quality 85 -sampling-factor 2x2 "$OUT/rgb420.jpg"
strip "$TMP/base37.png" -quality 92 -sampling-factor 1x1 "$OUT/rgb444.jpg"
strip "$TMP/base37.png" -quality 85 -sampling-factor 2x1 "$OUT/rgb422.jpg"
strip "$TMP/base37.png" -quality 85 -interlace Plane "$OUT/progressive.jpg"
strip "$TMP/base37.png" -colorspace Gray -quality 85 "$OUT/gray.jpg"
strip "$TMP/base37.png" -colorspace CMYK -quality 90 "$OUT/cmyk.jpg"                  # Adobe CMYK (inverted)
strip "$TMP/base64.png" -colorspace CMYK -quality 90 "$OUT/cmyk64.jpg"
# Orientations 1-8: the same stored pixels, only the EXIF tag differs (added below).
strip "$TMP/base37.png" -quality 90 -sampling-factor 1x1 "$TMP/orient.jpg"

# --- PNG --------------------------------------------------------------------------------------------------------
strip "$TMP/base37.png" PNG24:"$OUT/rgb.png"
strip "$TMP/base64.png" PNG24:"$OUT/photo.png"
strip "$TMP/base37a.png" PNG32:"$OUT/rgba.png"
strip "$TMP/base37.png" -colorspace Gray -depth 8 -define png:color-type=0 "$OUT/gray.png"
strip "$TMP/base37a.png" -colorspace Gray -depth 8 -define png:color-type=4 "$OUT/gray_alpha.png"
strip "$TMP/base37.png" -colors 16 PNG8:"$OUT/palette.png"
strip "$TMP/base37a.png" -channel A -threshold 50% +channel -colors 16 PNG8:"$OUT/palette_trns.png"
strip "$TMP/base37.png" -depth 16 PNG48:"$OUT/rgb16.png"
strip "$TMP/base37a.png" -depth 16 PNG64:"$OUT/rgba16.png"
strip "$TMP/base37.png" -colorspace Gray -depth 16 -define png:color-type=0 "$OUT/gray16.png"
strip "$TMP/base37a.png" -colorspace Gray -depth 16 -define png:color-type=4 "$OUT/gray_alpha16.png"
strip "$TMP/base37.png" -colorspace Gray -threshold 50% -define png:bit-depth=1 -define png:color-type=0 "$OUT/gray1.png"
strip "$TMP/base37.png" -interlace PNG PNG24:"$OUT/interlaced.png"
strip "$TMP/base37.png" PNG24:"$TMP/orient.png"

# --- WebP -------------------------------------------------------------------------------------------------------
strip "$TMP/base37.png" -quality 80 "$OUT/lossy.webp"
strip "$TMP/base64.png" -quality 80 "$OUT/photo.webp"
strip "$TMP/base37.png" -define webp:lossless=true "$OUT/lossless.webp"
strip "$TMP/base37a.png" -quality 80 "$OUT/alpha_lossy.webp"
strip "$TMP/base37a.png" -define webp:lossless=true -define webp:exact=true "$OUT/alpha_lossless.webp"
strip "$TMP/base37.png" -define webp:lossless=true "$TMP/orient.webp"

# --- BMP --------------------------------------------------------------------------------------------------------
strip "$TMP/base37.png" BMP3:"$OUT/rgb24.bmp"
strip "$TMP/base37.png" -colors 16 -type Palette BMP3:"$OUT/palette4.bmp"
strip "$TMP/base64.png" -colors 100 -type Palette BMP3:"$OUT/palette8.bmp"
strip "$TMP/base37a.png" -define bmp:format=bmp4 BMP:"$OUT/rgba32.bmp"

# --- TIFF -------------------------------------------------------------------------------------------------------
strip "$TMP/base37.png" -depth 8 -compress None "$OUT/rgb.tif"
strip "$TMP/base37.png" -depth 8 -compress LZW "$OUT/lzw.tif"
strip "$TMP/base37.png" -depth 8 -compress Zip "$OUT/deflate.tif"
strip "$TMP/base37.png" -colorspace Gray -depth 8 -compress LZW "$OUT/gray.tif"
strip "$TMP/base37a.png" -depth 8 -compress LZW "$OUT/rgba.tif"
for o in 1 2 3 4 5 6 7 8; do
  names=(_ TopLeft TopRight BottomRight BottomLeft LeftTop RightTop RightBottom LeftBottom)
  strip "$TMP/base37.png" -depth 8 -compress LZW -orient "${names[$o]}" "$OUT/orient$o.tif"
done

# --- GIF --------------------------------------------------------------------------------------------------------
strip "$TMP/base37.png" -colors 32 "$OUT/opaque.gif"
strip "$TMP/base37a.png" -channel A -threshold 50% +channel -colors 32 "$OUT/trans.gif"
strip "$TMP/base64.png" -colors 64 -interlace GIF "$OUT/interlaced.gif"
strip "$TMP/base37.png" -colors 32 \( "$TMP/base37.png" -negate -colors 32 \) -loop 0 "$OUT/anim.gif"

# --- EXIF orientation tags (JPEG APP1, PNG eXIf, WebP EXIF chunk) --------------------------------------------------
python3 - "$TMP" "$OUT" <<'EOF'
import struct, sys, zlib

tmp, out = sys.argv[1], sys.argv[2]

def tiff_with_orientation(o, big_endian):
    """A minimal EXIF TIFF structure: header + IFD0 with one SHORT entry, Orientation (0x0112) = o."""
    e = ">" if big_endian else "<"
    head = (b"MM\x00\x2a" if big_endian else b"II\x2a\x00") + struct.pack(e + "I", 8)
    value = struct.pack(e + "H", o) + b"\x00\x00"  # a SHORT sits left-justified in the 4-byte value field
    ifd = struct.pack(e + "H", 1) + struct.pack(e + "HHI", 0x0112, 3, 1) + value + struct.pack(e + "I", 0)
    return head + ifd

def jpeg_with_exif(jpeg, tiff):
    assert jpeg[:2] == b"\xff\xd8"
    payload = b"Exif\x00\x00" + tiff
    app1 = b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload
    pos = 2
    if jpeg[2:4] == b"\xff\xe0":  # keep JFIF's APP0 first
        pos = 4 + struct.unpack(">H", jpeg[4:6])[0]
    return jpeg[:pos] + app1 + jpeg[pos:]

def png_with_exif(png, tiff):
    chunk = b"eXIf" + tiff
    exif = struct.pack(">I", len(tiff)) + chunk + struct.pack(">I", zlib.crc32(chunk) & 0xffffffff)
    idat = png.index(b"IDAT") - 4
    return png[:idat] + exif + png[idat:]

def webp_with_exif(webp, tiff, width, height):
    assert webp[:4] == b"RIFF" and webp[8:12] == b"WEBP"
    body = webp[12:]
    if body[:4] == b"VP8X":
        flags = body[8] | 0x08
        body = body[:8] + bytes([flags]) + body[9:]
    else:
        vp8x = bytes([0x08, 0, 0, 0]) + (width - 1).to_bytes(3, "little") + (height - 1).to_bytes(3, "little")
        body = b"VP8X" + struct.pack("<I", 10) + vp8x + body
    data = tiff + (b"\x00" if len(tiff) % 2 else b"")
    body += b"EXIF" + struct.pack("<I", len(tiff)) + data
    return b"RIFF" + struct.pack("<I", 4 + len(body)) + b"WEBP" + body

jpeg = open(f"{tmp}/orient.jpg", "rb").read()
for o in range(1, 9):
    # Big-endian TIFF for odd orientations, little-endian for even ones: both byte orders are read.
    open(f"{out}/orient{o}.jpg", "wb").write(jpeg_with_exif(jpeg, tiff_with_orientation(o, o % 2 == 1)))
png = open(f"{tmp}/orient.png", "rb").read()
for o in (3, 6, 8):
    open(f"{out}/orient{o}.png", "wb").write(png_with_exif(png, tiff_with_orientation(o, False)))
webp = open(f"{tmp}/orient.webp", "rb").read()
for o in (5, 6):
    open(f"{out}/orient{o}.webp", "wb").write(webp_with_exif(webp, tiff_with_orientation(o, o == 5), 37, 23))
EOF

ls -l "$OUT" | awk 'NR > 1 { n += 1; s += $5 } END { print n " images, " s " bytes in '"$OUT"'" }'
