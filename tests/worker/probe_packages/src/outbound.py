"""Outbound HTTP from Python in workerd: what pyodide-http does there, what `requests` does, and
`workers.fetch`, which goes through the runtime's fetch."""

import urllib.request

import js
import pyodide_http
import requests
from workers import fetch


def pyodide_http_report() -> dict:
    urlopen, session_init = urllib.request.urlopen, requests.Session.__init__
    pyodide_http.patch_all()
    return {
        "js has XMLHttpRequest": hasattr(js, "XMLHttpRequest"),
        "should_patch": pyodide_http.should_patch(),
        "urllib patched": urllib.request.urlopen is not urlopen,
        "requests patched": requests.Session.__init__ is not session_init,
    }


async def fetch_report(url: str) -> dict:
    response = await fetch(url, headers={"x-probe": "workers.fetch"})
    return {"status": response.status, "body": await response.text()}


def requests_report(url: str) -> dict:
    try:
        response = requests.get(url, headers={"x-probe": "requests"}, timeout=5)
    except Exception as err:
        return {"raised": type(err).__name__, "message": str(err)[:300]}
    return {"status": response.status_code, "body": response.text}
