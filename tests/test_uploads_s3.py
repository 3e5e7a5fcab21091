"""Uploads kept in an S3-compatible bucket (FORUM_UPLOADS_S3_BUCKET) instead of a directory.

No S3-compatible server (MinIO, Garage) installs from this machine's package registries, so, as the
last resort, moto's server mode stands in for S3: a real HTTP server speaking the S3 API, which boto3
reaches over the network exactly as it would reach S3 (it is not a patch of boto3)."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from PIL import Image

from forum import uploads
from forum.app import create_app
from forum.models import utcnow
from tests.conftest import csrf_of, login
from tests.server import free_port

boto3 = pytest.importorskip("boto3", reason="boto3 is not installed (pip install -e '.[test]')")
moto_server = pytest.importorskip("moto.server", reason="moto[server] is not installed (pip install -e '.[test]')")


@pytest.fixture
def s3(monkeypatch):
    port = free_port()
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    for name, value in (("AWS_ACCESS_KEY_ID", "forum-test"), ("AWS_SECRET_ACCESS_KEY", "forum-test-secret"),
                        ("AWS_DEFAULT_REGION", "us-east-1")):
        monkeypatch.setenv(name, value)
    endpoint = f"http://127.0.0.1:{port}"
    boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1").create_bucket(Bucket="forum-files")
    yield endpoint
    server.stop()


def test_files_in_a_bucket_are_stored_served_checked_and_removed_as_on_disk(s3, settings, db, make_user,
                                                                            make_category):
    settings.uploads_s3_bucket, settings.uploads_s3_endpoint_url = "forum-files", s3
    settings.uploads_s3_prefix = "federation"
    from fastapi.testclient import TestClient

    app = create_app(settings, db)
    make_user("ana", tier="member")
    make_user("pat", tier="participant")
    lounge = make_category("Members' lounge", "members_only")
    with TestClient(app) as ana, TestClient(app) as pat:
        login(ana, "ana")
        login(pat, "pat")
        token = csrf_of(ana, "/latest")
        picture = io.BytesIO()
        Image.new("RGB", (1600, 800), (90, 20, 20)).save(picture, "JPEG")
        photo = ana.post("/uploads.json", files={"file": ("hall.jpg", picture.getvalue())},
                         headers={"X-CSRF-Token": token}).json()
        stray = ana.post("/uploads.json", files={"file": ("stray.txt", b"never posted\n")},
                         headers={"X-CSRF-Token": token}).json()
        ana.post("/posts.json", data={"title": "Photos of the members' hall", "category": lounge.id,
                                      "raw": photo["markdown"]}, headers={"X-CSRF-Token": token})
        keys = {o["Key"] for o in boto3.client("s3", endpoint_url=s3).list_objects_v2(Bucket="forum-files")["Contents"]}
        assert f"federation/{photo['url'].removeprefix('/uploads/default/')}" in keys
        assert any(k.startswith("federation/optimized/1X/") for k in keys)  # the display copy too
        assert not (settings.uploads_path / "original").exists()  # nothing kept on the local disk

        served = ana.get(photo["url"])
        assert served.status_code == 200 and served.headers["content-type"] == "image/jpeg"
        assert Image.open(io.BytesIO(served.content)).size == (1600, 800)
        assert served.headers["content-security-policy"] == "sandbox"
        part = ana.get(photo["url"], headers={"Range": "bytes=0-1"})
        assert part.status_code == 206 and part.content == b"\xff\xd8"
        assert pat.get(photo["url"]).status_code == 404  # the same rule as on disk

        assert uploads.remove_orphans(db, settings, utcnow() + timedelta(hours=49)) == 1
        assert ana.get(stray["url"]).status_code == 404
        with db.read() as session:
            result = uploads.verify(session, settings)
        assert (result.checked, result.missing, result.damaged) == (1, [], [])
