"""docs/deploy.md, tried: nginx from Debian, started with docs/deploy/nginx-forum.conf as written
(only ports, certificate and paths replaced), in front of two forum instances, as a federation's
server runs it."""

from __future__ import annotations

import os
import re
import shutil
import ssl
import subprocess
import sys
import time

import httpx
import pytest

from forum import ROOT
from tests.conftest import PASSWORD, _unavailable
from tests.server import free_port, running_server
from tests.sse import Stream

SITE = ROOT / "docs" / "deploy" / "nginx-forum.conf"


def _certificate(tmp_path):
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
                    "-days", "2", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True)
    return key, cert


def _site(instances: list[str], http_port: int, https_port: int, key, cert) -> str:
    text = SITE.read_text()
    (first, second) = (re.search(r":(\d+)$", base).group(1) for base in instances)
    text = text.replace("127.0.0.1:8001", f"127.0.0.1:{first}").replace("127.0.0.1:8002", f"127.0.0.1:{second}")
    text = text.replace("listen 80;", f"listen 127.0.0.1:{http_port};")
    text = text.replace("listen 443 ssl http2;", f"listen 127.0.0.1:{https_port} ssl http2;")
    text = text.replace("/etc/letsencrypt/live/forum.example.org/fullchain.pem", str(cert))
    text = text.replace("/etc/letsencrypt/live/forum.example.org/privkey.pem", str(key))
    text = text.replace("/srv/forum/static/", f"{ROOT / 'static'}/")
    directives = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))
    assert "letsencrypt" not in directives and "/srv/forum" not in directives
    assert f"server 127.0.0.1:{first} " in directives and f"server 127.0.0.1:{second} " in directives
    return text


def _nginx(binary: str, tmp_path, site: str):
    """nginx in the foreground, its files in tmp_path; /etc/nginx/sites-available would hold `site`."""
    (tmp_path / "forum.conf").write_text(site)
    user = "user root;\n" if os.geteuid() == 0 else ""  # workers must read the test's private files
    (tmp_path / "nginx.conf").write_text(f"""{user}daemon off;
worker_processes 1;
pid {tmp_path}/nginx.pid;
error_log {tmp_path}/error.log warn;
events {{ worker_connections 512; }}
http {{
    include /etc/nginx/mime.types;
    access_log {tmp_path}/access.log;
    client_body_temp_path {tmp_path}/body;
    proxy_temp_path {tmp_path}/proxy;
    fastcgi_temp_path {tmp_path}/fastcgi;
    uwsgi_temp_path {tmp_path}/uwsgi;
    scgi_temp_path {tmp_path}/scgi;
    include {tmp_path}/forum.conf;
}}
""")
    return subprocess.Popen([binary, "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


@pytest.mark.server
def test_nginx_in_front_of_two_instances_as_the_deployment_guide_says(database_url, db, make_user, make_category,
                                                                        make_topic, tmp_path):
    nginx = shutil.which("nginx") or ("/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx") else None)
    if nginx is None:
        _unavailable("nginx is not installed (Debian package nginx)")
    ana = make_user("ana", tier="member")
    topic = make_topic(ana, make_category("News"), title="Assembly agenda for the spring meeting")
    key, cert = _certificate(tmp_path)
    trust = ssl.create_default_context(cafile=str(cert))
    http_port, https_port = free_port(), free_port()
    public = f"https://127.0.0.1:{https_port}"
    env = {"FORUM_BASE_URL": public, "FORWARDED_ALLOW_IPS": "127.0.0.1"}
    with running_server(database_url, env=env) as first, running_server(database_url, env=env) as second:
        proxy = _nginx(nginx, tmp_path, _site([first, second], http_port, https_port, key, cert))
        try:
            deadline = time.monotonic() + 10
            while True:
                try:
                    httpx.get(f"{public}/health/live", verify=trust, timeout=1)
                    break
                except httpx.HTTPError:
                    assert proxy.poll() is None and time.monotonic() < deadline, (tmp_path / "error.log").read_text()
                    time.sleep(0.1)
            # Plain http is sent to https.
            r = httpx.get(f"http://127.0.0.1:{http_port}/latest", timeout=10)
            assert r.status_code == 301 and r.headers["location"] == "https://127.0.0.1/latest"  # port 443 in real life
            with httpx.Client(base_url=public, verify=trust, timeout=30, follow_redirects=True) as browser:
                page = browser.get("/latest")
                assert page.status_code == 200 and "Assembly agenda" in page.text
                assert re.fullmatch(r"[0-9a-f]{32}", page.headers["x-request-id"])  # nginx's id, in the app's log
                styles = re.search(r'href="(/static/forum\.css\?v=[0-9a-f]+)"', page.text).group(1)
                static = browser.get(styles)
                assert static.status_code == 200 and static.headers["server"].startswith("nginx")
                assert "x-request-id" not in static.headers  # from disk, not from the forum
                assert static.headers["cache-control"] == "public, max-age=31536000, immutable"
                assert browser.get("/static/forum.css").headers["cache-control"] == "no-cache"
                assert browser.get("/metrics").status_code == 404
                # The forum sees https and the public host: its links and secure cookies are right.
                assert browser.get("/health/live").json()["seen_as"] == public
                token = re.search(r'name="csrf_token" value="([^"]+)"', browser.get("/login").text).group(1)
                r = browser.post("/login", data={"login": "ana", "password": PASSWORD, "csrf_token": token},
                                 follow_redirects=False)
                assert r.status_code == 303 and "secure" in r.headers["set-cookie"].lower()

                # A live stream through nginx, unbuffered; replies posted through it, reaching both instances.
                stream = Stream(public, f"/live?topic_id={topic.id}", verify=trust)
                for n in range(2, 5):
                    page = browser.get(f"/t/{topic.slug}/{topic.id}").text
                    token = re.search(r'<meta name="csrf-token" content="([^"]+)"', page).group(1)
                    started = time.monotonic()
                    r = browser.post("/posts.json", data={"topic_id": topic.id, "raw": f"Reply number {n} here."},
                                     headers={"X-CSRF-Token": token})
                    assert r.status_code == 200, r.text
                    event = stream.next("post", timeout=3)
                    assert event is not None and event["post_number"] == n
                    assert time.monotonic() - started < 1.5
                stream.close()

            # `forum check` agrees that the public address reaches the forum as itself.
            check = subprocess.run([sys.executable, "-m", "forum.cli", "check"], capture_output=True, text=True,
                                   timeout=60, env={**os.environ, "FORUM_DATABASE_URL": database_url,
                                                    "FORUM_BASE_URL": public, "SSL_CERT_FILE": str(cert)})
            assert f"{public} answers as itself" in check.stdout, check.stdout
        finally:
            proxy.terminate()
            proxy.wait(timeout=10)
