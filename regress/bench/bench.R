# The R package beside RSclient and Rserve, in one run: what an R user's
# data work costs.  Not a test: it prints medians and 99th percentiles.
#
#	Rscript regress/bench/bench.R [reps]
#
# It starts a private securerd from the build tree (result-size raised to
# 256M, result-memory 1G, output-bytes 64M; audit-sync never, as
# securer-bench: the daemon's speed, not an fsync's, which Rserve does
# not pay either) and Rserve (Debian's
# r-cran-rserve) on sockets of its own in a temporary directory, and
# stops both at the end.  Without RSclient (r-cran-rsclient) the Rserve
# column is left out.
args <- commandArgs(TRUE)
reps <- if (length(args)) as.integer(args[1]) else 20L
me <- sub("^--file=", "", grep("^--file=", commandArgs(FALSE), value = TRUE))
top <- normalizePath(file.path(dirname(me), "..", ".."))
suppressPackageStartupMessages(library(securer))
options(securer.autostart = FALSE)
dir <- tempfile("securer_bench_")
dir.create(dir, mode = "0700")
sock <- file.path(dir, "sock")
writeLines(c(sprintf('socket "%s"', sock), sprintf('audit "%s/audit.jsonl"', dir),
             "result-size 268435456", "result-memory 1073741824",
             "output-bytes 67108864", "audit-sync never"), file.path(dir, "conf"))
system2(file.path(top, "build", "securerd"), c("-d", "-f", file.path(dir, "conf")),
        stdout = file.path(dir, "daemon.log"), stderr = file.path(dir, "daemon.log"),
        wait = FALSE)
for (i in 1:200) if (file.exists(sock)) break else Sys.sleep(0.05)
Sys.setenv(SECURER_SOCKET = sock)

have_rs <- requireNamespace("RSclient", quietly = TRUE) &&
  file.exists(rserve <- system.file("libs", "Rserve", package = "Rserve"))
rs_sock <- file.path(dir, "rserve.sock")
if (have_rs) {
  system2("R", c("CMD", rserve, "--RS-socket", rs_sock, "--RS-pidfile",
                 file.path(dir, "rserve.pid"), "--no-save", "--vanilla"),
          stdout = FALSE, stderr = FALSE, wait = TRUE)
  for (i in 1:200) if (file.exists(rs_sock)) break else Sys.sleep(0.05)
}
stop_all <- function() {
  pids <- suppressWarnings(as.integer(readLines(file.path(dir, "rserve.pid"), warn = FALSE)))
  if (length(pids) && !is.na(pids[1])) tools::pskill(pids[1])
  d <- system2("pgrep", c("-f", shQuote(paste("securerd -d -f", file.path(dir, "conf")))),
               stdout = TRUE)
  for (p in as.integer(d)) tools::pskill(p)
}
# on.exit() does nothing at the top level of a script: at R's exit.
invisible(reg.finalizer(environment(), function(e) stop_all(), onexit = TRUE))

# n samples, each the mean of k calls (for what takes less than the
# clock's millisecond).
timeit <- function(f, n, k = 1L) {
  t <- numeric(n)
  for (i in seq_len(n)) {
    t0 <- proc.time()[["elapsed"]]
    for (j in seq_len(k)) f()
    t[i] <- (proc.time()[["elapsed"]] - t0) / k
  }
  c(median = stats::median(t), p99 = unname(stats::quantile(t, 0.99, type = 7)))
}
row <- function(what, s, r = NULL) {
  cat(sprintf("%-38s securer median %10.6f s  p99 %10.6f s", what, s[1], s[2]))
  if (!is.null(r)) cat(sprintf("   RSclient median %10.6f s  p99 %10.6f s  ratio %5.2f",
                               r[1], r[2], s[1] / r[1]))
  cat("\n")
}

s <- SecureSession$new()
invisible(s$execute("set.seed(1); x6 <- rnorm(1e6); x7 <- rnorm(1e7); NULL"))
rc <- NULL
if (have_rs) {
  rc <- RSclient::RS.connect(rs_sock, 0L)
  invisible(RSclient::RS.eval(rc, {set.seed(1); x6 <- rnorm(1e6); x7 <- rnorm(1e7); NULL}))
}
stopifnot(identical(s$execute("x6"), {set.seed(1); rnorm(1e6)}))
cat(sprintf("securer-bench (R), %d repetitions, load average %s\n", reps,
            paste(readLines("/proc/loadavg"), collapse = "")))
row("1e6 doubles to R", timeit(function() s$execute("x6"), reps),
    if (have_rs) timeit(function() RSclient::RS.eval(rc, x6), reps))
row("1e7 doubles to R", timeit(function() s$execute("x7", timeout = 120), max(3L, reps %/% 4L)),
    if (have_rs) timeit(function() RSclient::RS.eval(rc, x7), max(3L, reps %/% 4L)))
row("1e6 output lines (writeLines)", timeit(function()
  s$execute("writeLines(paste('line', 1:1e6))", timeout = 120), max(3L, reps %/% 4L)))
row("1e6 output lines (cat loop)", timeit(function()
  s$execute("for (i in 1:1e6) cat('line', i, '\\n')", timeout = 120), 3L))
code <- paste0("c(", paste(seq_len(50000), collapse = ","), ")")
row("validate_code, 50,000 numbers", timeit(function() validate_code(code), reps))
row("$execute(\"1+1\")", timeit(function() s$execute("1+1"), reps, 50L),
    if (have_rs) timeit(function() RSclient::RS.eval(rc, 1 + 1), reps, 50L))
# What $execute() does before sending: its checks, the default
# validation among them (the worker's parse is the check: no parse here).
ses <- get("private", s$.__enclos_env__)
row("$execute() checks before sending 1+1", timeit(function() {
  ses$preflight("1+1", 30, TRUE, NULL, NULL, 100000L, NULL)
  ses$executing <- FALSE
}, reps, 1000L))
row("validate_code(\"1+1\")", timeit(function() validate_code("1+1"), reps, 1000L))
# A tool call from R: an execution that calls one, less one that does
# not (the median's difference; its p99 is the calling execution's).
st <- SecureSession$new(tools = list(securer_tool("f", "the same",
                                                  function(x) x, list(x = "numeric"))))
invisible(st$execute("f(1)"))
with_tool <- timeit(function() st$execute("f(1)"), reps, 50L)
without <- timeit(function() st$execute("1"), reps, 50L)
row("$execute(\"f(1)\"), one tool call", with_tool)
row("a tool call from R (the difference)",
    c(with_tool[[1]] - without[[1]], with_tool[[2]]))
st$close()
if (have_rs) invisible(RSclient::RS.close(rc))
s$close()
