"""The examples of R's base packages, each in a sandboxed session.

usage: corpus.py socket timeout lanes report.json

Lists, inside the sandbox, every help page of base, stats, utils,
methods, graphics, grDevices and tools that has examples, and runs
example() on one topic of each (the topics of one page share its
examples), one execution per page, in as many sessions at once as there
are lanes, each execution with the timeout; a lane's session gets a
fresh worker when it moves on to another package.  Writes what each ended in
to report.json and a summary on standard output; exits 1 if any ended
in a sandbox violation (an R error, a timeout or another death is
ordinary R's right).  The client is this tree's (python/).
"""

from __future__ import annotations

import json
import sys
import threading
import time

import securer
from securer.errors import RError, SecurerError, Timeout, WorkerDied

PACKAGES = ("base", "stats", "utils", "methods", "graphics", "grDevices",
            "tools")

# Not run, with why: each would stop the lane for nothing the filter sees.
EXCLUDED: dict[str, str] = {}

# One "package<TAB>topic" per page with examples, and how many topics
# (aliases) the pages have in all.
LIST_CODE = r"""
pages <- character(); aliases <- 0L
for (p in c(%s)) {
    db <- tools::Rd_db(p)
    al <- readRDS(file.path(find.package(p), "help", "aliases.rds"))
    aliases <- aliases + length(al)
    for (f in names(db)) {
        if (!any(tools:::RdTags(db[[f]]) == "\\examples")) next
        a <- sort(names(al)[al == sub("\\.Rd$", "", basename(f))])
        if (length(a)) pages <- c(pages, paste(p, a[[1]], sep = "\t"))
    }
}
c(as.character(aliases), pages)
""" % ", ".join('"%s"' % p for p in PACKAGES)

RUN_CODE = ("invisible(utils::example(%s, package = %s, character.only = "
            "TRUE, echo = FALSE, ask = FALSE, give.lines = FALSE))")


def rstr(s: str) -> str:
    return json.dumps(s)  # a JSON string is an R string literal here


def run_lane(sock: str, timeout: float, queue: list[tuple[str, str]],
             lock: threading.Lock, results: dict[str, dict]) -> None:
    session = securer.Session(socket=sock, autostart=False)
    last = None
    try:
        while True:
            with lock:
                if not queue:
                    return
                pkg, topic = queue.pop(0)
            # A fresh worker for each package, as R CMD check runs the
            # examples of each in an R of its own: what the examples of
            # methods define (generics, classes) stays out of graphics'.
            if last is not None and pkg != last:
                session.restart()
            last = pkg
            key = "%s::%s" % (pkg, topic)
            t0 = time.monotonic()
            try:
                session.execute(RUN_CODE % (rstr(topic), rstr(pkg)),
                                timeout=timeout)
                outcome, why = "ok", ""
            except RError as e:
                outcome, why = "r_error", e.message[:200]
            except Timeout as e:
                outcome, why = "timeout", e.message[:200]
            except WorkerDied as e:
                outcome, why = "worker_died", e.cause
            except SecurerError as e:
                outcome, why = e.code, e.message[:200]
            results[key] = {"outcome": outcome, "why": why,
                            "seconds": round(time.monotonic() - t0, 3)}
    finally:
        session.close()


def main() -> int:
    sock, timeout, lanes, report = (sys.argv[1], float(sys.argv[2]),
                                    int(sys.argv[3]), sys.argv[4])
    t0 = time.monotonic()
    with securer.Session(socket=sock, autostart=False) as s:
        listed = s.execute(LIST_CODE, timeout=120).value
    aliases, pages = int(listed[0]), [tuple(x.split("\t"))
                                      for x in listed[1:]]
    queue = [p for p in pages if "%s::%s" % p not in EXCLUDED]
    results: dict[str, dict] = {}
    lock = threading.Lock()
    threads = [threading.Thread(target=run_lane,
                                args=(sock, timeout, queue, lock, results))
               for _ in range(lanes)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    counts: dict[str, int] = {}
    for r in results.values():
        counts[r["outcome"]] = counts.get(r["outcome"], 0) + 1
    violations = sorted(k for k, r in results.items()
                        if r["outcome"] == "worker_died" and
                        "violation" in r["why"])
    slowest = sorted(results.items(), key=lambda kv: -kv[1]["seconds"])[:5]
    summary = {"pages": len(pages), "aliases": aliases, "run": len(results),
               "excluded": EXCLUDED, "outcomes": counts,
               "violations": violations,
               "seconds": round(time.monotonic() - t0, 1),
               "slowest": [[k, r["seconds"], r["outcome"]]
                           for k, r in slowest]}
    with open(report, "w") as f:
        json.dump({"summary": summary, "results": results}, f, indent=1,
                  sort_keys=True)
    print(json.dumps(summary, indent=1))
    for k, r in sorted(results.items()):
        if r["outcome"] not in ("ok", "r_error"):
            print("%s: %s %s" % (k, r["outcome"], r["why"]))
    if len(results) + len(EXCLUDED) < len(pages):
        print("not every page ran")
        return 1
    return 1 if violations else 0


if __name__ == "__main__":
    sys.exit(main())
