"""Redaction on the streaming hot path: milliseconds per MB of output for plain logs, `seq`, JSON and
ANSI-coloured output, with 3 and 10 secrets, beside a floor measured in the same run (one regex scan for a
literal that is not there: the least any search of the text costs) and detect-secrets' regex plugins (the
maintained detector, too slow for the hot path: it is used by the leak corpus instead)."""

import json
import random
import re
import string

from common import result, timer

from deploytui.text.clean import clean_text
from deploytui.text.redact import Redactor


def samples() -> dict[str, str]:
    rnd = random.Random(1)
    logs = "".join(f"2026-11-23T07:53:{i % 60:02d}Z INFO deploy[{i}] pulled image registry.example.com/app:"
                   f"{''.join(rnd.choices('0123456789abcdef', k=12))} in {rnd.random():.3f}s ok\n" for i in range(13000))
    seq = "".join(f"{i}\n" for i in range(1, 150000))
    js = "".join(json.dumps({"id": i, "name": f"item-{i}", "status": "ok", "createdAt": "2026-11-23T07:53:00Z",
                             "keyName": "k", "tags": {"a": "b"}}) + "\n" for i in range(15000))
    ansi = "".join(f"\x1b[32m{i}\x1b[0m \x1b[1;33mWARN\x1b[0m line \x1b[31mred\x1b[0m and \x1b[38;5;208mmore"
                   f"\x1b[0m\n" for i in range(20000))  # bench_tui's generator: 8 escape sequences a line
    return {"logs": logs, "seq": seq, "JSON": js, "ANSI-coloured": ansi}


def per_mb(func, text: str, rounds: int = 5) -> float:
    best = float("inf")
    for _ in range(rounds):
        with timer() as t:
            func(text)
        best = min(best, t.seconds)
    return best / (len(text.encode()) / 1e6) * 1000


def main() -> None:
    rnd = random.Random(3)
    secrets = ["hunter2-secret", "Pa ss'w\"rd-42"] + ["".join(rnd.choices(string.ascii_letters + string.digits, k=40))
                                                       for _ in range(8)]
    floor = re.compile("zqxj")
    few, many = Redactor(secrets[:3]), Redactor(secrets)
    for name, text in samples().items():
        f = per_mb(floor.search, text)
        a, b = per_mb(few.text, text), per_mb(many.text, text)
        result(f"redaction of {name} output (3 / 10 secrets)", f"{a:.1f} / {b:.1f} ms per MB",
               "<= 10 ms per MB (the old redactor: ~7-11, with fewer forms and shapes)",
               f"floor {f:.2f} ms per MB (one regex scan); x{a / f:.0f}")
    text = samples()["ANSI-coloured"]
    result("cleaning ANSI-coloured output for the matcher (clean_text)", f"{per_mb(clean_text, text):.1f} ms per MB", "-")
    try:
        from detect_secrets.core.scan import scan_line
        from detect_secrets.settings import transient_settings
    except ImportError:
        return
    logs = samples()["logs"][:400_000]
    names = ["AWSKeyDetector", "BasicAuthDetector", "GitHubTokenDetector", "JwtTokenDetector", "NpmDetector",
             "PrivateKeyDetector", "SlackDetector", "StripeDetector"]
    with transient_settings({"plugins_used": [{"name": n} for n in names]}):
        ms = per_mb(lambda t: [list(scan_line(x)) for x in t.splitlines()], logs, rounds=1)
    result("detect-secrets, 8 regex plugins, line by line (logs)", f"{ms:,.0f} ms per MB", "-",
           f"x{ms / per_mb(few.text, logs):.0f} deploytui's redactor")


if __name__ == "__main__":
    main()
