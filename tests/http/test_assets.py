"""The dashboard's assets under versioned URLs: cached for good, and a new version
(an upgrade) is seen at once because the page itself is never cached unasked."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from conftest import Running

import wad.http
from wad.http.assets import IMMUTABLE, Assets

STATIC = Path(wad.http.__file__).resolve().parents[1] / "static"
VERSIONED = re.compile(r'(?:src|href)="(/static/v/([0-9a-f]{16})/[^"]+)"')


async def test_the_page_names_versioned_assets_cached_for_good(wad: Running) -> None:
    r = await wad.client.get("/")
    assert r.status_code == 200 and r.headers["cache-control"] == "no-cache"
    assert "expires" not in r.headers
    assert '="/static/' not in VERSIONED.sub("", r.text)  # every asset is versioned
    found = VERSIONED.findall(r.text)
    assert {version for _, version in found} and len({v for _, v in found}) == 1
    urls = [url for url, _ in found]
    version = found[0][1]
    assert f"/static/v/{version}/js/app.js" in urls
    for url in urls:
        r = await wad.client.get(url)
        plain = await wad.client.get(url.replace(f"/v/{version}", ""))
        assert r.status_code == 200 and r.content == plain.content
        assert r.headers["cache-control"] == IMMUTABLE
        assert r.headers["x-content-type-options"] == "nosniff"
        # The unversioned URL still works, revalidated on every use (it was cached 12 h).
        assert plain.headers["cache-control"] == "no-cache" and "expires" not in plain.headers
    # A module's relative import lands under the same version.
    r = await wad.client.get(f"/static/v/{version}/js/api.js")
    assert r.status_code == 200 and r.headers["cache-control"] == IMMUTABLE
    # An old page's URL gets today's file, not cached; a missing file is a 404.
    r = await wad.client.get("/static/v/0123456789abcdef/js/app.js")
    assert r.status_code == 200 and r.headers["cache-control"] == "no-cache"
    assert (await wad.client.get(f"/static/v/{version}/js/nope.js")).status_code == 404
    assert (await wad.client.get(f"/static/v/{version}/../pyproject.toml")).status_code == 404


def test_a_changed_file_is_a_new_version(tmp_path: Path) -> None:
    folder = tmp_path / "static"
    shutil.copytree(STATIC, folder)
    assets = Assets(folder)
    first = assets.page()
    assert assets.version and f"/static/v/{assets.version}/js/app.js" in first
    assert Assets(folder).version == "" and Assets(folder).page() == first  # stable
    before = assets.version
    api = folder / "js" / "api.js"
    api.write_text(api.read_text() + "\n// 1.1\n")  # an upgrade changes one module
    page = assets.page()
    assert assets.version != before and f"/static/v/{assets.version}/js/app.js" in page
    assert before not in page
