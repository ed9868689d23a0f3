#!/usr/bin/env bash
# tests/test_viz_xml.sh - the figures viz/ writes are valid XML and their PNGs
# decode, checked with independent implementations: python3's
# xml.etree (expat) for every SVG, Pillow for the standalone and the embedded
# PNGs. Needs python3 and python3-pil (Debian); without them the checks skip.
# TEST_VIZ_BIN overrides the test binary (default $BUILD/tests/test_viz).
set -u
. "$(dirname "$0")/lib.sh"
ok() { check "$*" true; }
fail() { check "$*" false; }
dir=$(mktemp -d); trap 'rm -rf "$dir"' EXIT
if VIZ_OUT="$dir" "${TEST_VIZ_BIN:-$BUILD/tests/test_viz}" >"$dir/log" 2>&1; then ok "test_viz wrote its figures"; else fail "test_viz failed:"; cat "$dir/log"; fi
py=/usr/bin/python3; [ -x "$py" ] || py=$(command -v python3 || true)
if [ -z "$py" ]; then
    skip "no python3: SVG/PNG checks not run"
else
    for f in "$dir"/*.svg; do
        if out=$("$py" -c 'import sys, xml.etree.ElementTree as E; r = E.parse(sys.argv[1]).getroot(); assert r.tag.endswith("svg"), r.tag' "$f" 2>&1); then
            ok "$(basename "$f") parses as XML (root <svg>)"
        else
            fail "$(basename "$f") is not valid XML: $out"
        fi
    done
    if out=$("$py" - "$dir/report.html" 2>&1 <<'PY'
import sys, re, xml.etree.ElementTree as E
from html.parser import HTMLParser
page = open(sys.argv[1], encoding="utf-8").read()
class P(HTMLParser):
    def __init__(self):
        super().__init__(); self.bad = []
    def handle_starttag(self, tag, attrs):
        if tag in ("script", "link", "iframe", "img", "object", "embed"):
            self.bad.append(tag)
        for k, v in attrs:
            if k in ("src", "href") and v and not v.startswith("#"):
                self.bad.append(f"{tag} {k}={v[:40]}")
p = P(); p.feed(page); p.close()
assert not p.bad, p.bad
svgs = re.findall(r"<svg\b.*?</svg>", page, re.S)
assert len(svgs) >= 5, len(svgs)
for s in svgs:
    E.fromstring(s)
ids = re.findall(r' id="([^"]+)"', page)
assert len(ids) == len(set(ids)), "duplicate ids"
print(len(svgs))
PY
); then ok "report.html: no scripts, links or external resources; its $out inline SVGs parse as XML; ids unique"
    else fail "report.html: $out"; fi
    if "$py" -c 'import PIL' 2>/dev/null; then
        if out=$("$py" - "$dir" 2>&1 <<'PY'
import sys, io, re, base64
from PIL import Image
d = sys.argv[1]
im = Image.open(d + "/ramp.png"); im.load()
assert im.size == (16, 8) and im.mode == "P", (im.size, im.mode)
assert list(im.getdata())[:5] == [0, 2, 4, 6, 8]
svg = open(d + "/latents.svg").read()
pngs = re.findall(r'data:image/png;base64,([A-Za-z0-9+/=]+)', svg)
assert len(pngs) == 2, len(pngs)      # the image and its colorbar
for b in pngs:
    im = Image.open(io.BytesIO(base64.b64decode(b))); im.load()
print("ok")
PY
); then ok "Pillow decodes ramp.png and both PNGs embedded in latents.svg"; else fail "PNG decode: $out"; fi
    else
        skip "no Pillow (apt-get install python3-pil): PNG decode not run"
    fi
fi
finish
