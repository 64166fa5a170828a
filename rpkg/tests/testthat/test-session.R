test_that("values come back exact, with their output", {
  skip_without_daemon()
  s <- SecureSession$new()
  on.exit(s$close())
  expect_identical(s$execute("pi"), pi)
  expect_identical(s$execute("1L"), 1L)
  expect_identical(s$execute("c(NA, 1L)"), c(NA, 1L))
  expect_identical(s$execute("NA_character_"), NA_character_)
  expect_identical(s$execute("c(1.5, 2.25, 3)"), c(1.5, 2.25, 3))
  expect_null(s$execute("NULL"))
  expect_identical(s$execute("factor(c('a','b'))"), factor(c("a", "b")))
  expect_identical(s$execute("data.frame(a = 1:2, b = c('x', NA))"), data.frame(a = 1:2, b = c("x", NA)))
  expect_identical(s$execute("list(a = 1, b = list('x'))"), list(a = 1, b = list("x")))
  r <- s$execute("cat('hi\\n'); print(1:2); 0.1 + 0.2")
  expect_identical(as.numeric(r), 0.1 + 0.2)
  expect_identical(attr(r, "output"), c("hi", "[1] 1 2"))
  # securer fails here ("attempt to set an attribute on NULL").
  expect_null(s$execute("cat('hi\\n')"))
  expect_identical(s$last_output(), "hi")
  expect_null(s$execute("for (i in 1:3) print(i)"))
  expect_identical(s$last_output(), c("[1] 1", "[1] 2", "[1] 3"))
  # A closure crosses as its source, never as something callable.
  f <- s$execute("function(x) x")
  expect_s3_class(f, "securer_function")
  expect_false(is.function(f))
})

test_that("state persists, errors are R's, the handler sees every line", {
  skip_without_daemon()
  s <- SecureSession$new()
  on.exit(s$close())
  s$execute("x <- 41")
  expect_identical(s$execute("x + 1"), 42)
  expect_error(s$execute("stop('boom')"), "^boom$", class = "securer_r_error")
  seen <- character(0)
  r <- s$execute("for (i in 1:5) cat(i, '\\n'); 1", output_handler = function(l) seen <<- c(seen, l),
                 max_output_lines = 2)
  expect_length(seen, 5)
  expect_length(attr(r, "output"), 2)
  s$execute("1", output_handler = function(l) stop("ignored"))
  expect_error(s$execute("1", output_handler = 1), "`output_handler` must be a function or NULL, not <numeric>.", fixed = TRUE)
})

test_that("pre-flight errors are securer's", {
  skip_without_daemon()
  s <- SecureSession$new(max_executions = 2, pre_execute_hook = function(code) !grepl("forbidden", code))
  on.exit(s$close())
  expect_error(s$execute("forbidden"), "Execution blocked by `pre_execute_hook`.", fixed = TRUE)
  expect_error(s$execute("1 +", validate = TRUE), "Code has a syntax error and was not executed:", fixed = TRUE)
  expect_error(s$execute("1 +", validate = FALSE), "syntax error")
  expect_error(s$execute(strrep("1", 11), max_code_length = 10), "Code too long (11 chars, max 10).", fixed = TRUE)
  s$execute(strrep("1", 10), max_code_length = 10)
  expect_error(s$execute("1"), "Maximum executions (2) reached for this session.", fixed = TRUE)
  h <- SecureSession$new(pre_execute_hook = function(code) stop("nope"))
  on.exit(h$close(), add = TRUE)
  expect_error(h$execute("1"), "`pre_execute_hook` error: nope", fixed = TRUE)
  n <- SecureSession$new(pre_execute_hook = function(code) NULL)
  on.exit(n$close(), add = TRUE)
  expect_equal(n$execute("2"), 2)
})

test_that("a busy session refuses a second execution", {
  skip_without_daemon()
  s <- SecureSession$new()
  on.exit(s$close())
  f <- s$execute_async("Sys.sleep(0.3); 7")
  expect_error(s$execute("1"), "does not support concurrent `execute()` calls", fixed = TRUE)
  expect_error(s$restart(), "Cannot restart while an execution is in progress.", fixed = TRUE)
  expect_equal(f$value(), 7)
  expect_equal(s$execute("8"), 8)
})

test_that("timeouts say so and the session goes on", {
  skip_without_daemon()
  s <- SecureSession$new()
  on.exit(s$close())
  gone <- "; the session was restarted: its state (variables, loaded packages) and the files put with $put_file() are gone."
  s$execute("x <- 1")
  e <- tryCatch(s$execute("Sys.sleep(10)", timeout = 1), error = function(e) e)
  expect_identical(conditionMessage(e), paste0("Execution timed out after 1 second", gone))
  expect_s3_class(e, c("securer_timeout", "securer_error"))
  expect_error(s$execute("while (TRUE) NULL", timeout = 0.5),
               paste0("Execution timed out after 0.5 seconds", gone), fixed = TRUE)
  # As it says: the state is gone.
  expect_error(s$execute("x"), "not found")
  expect_true(s$is_alive())
  expect_equal(s$execute("1 + 1"), 2)
  expect_error(execute_r("Sys.sleep(5)", timeout = 2), "Execution timed out after 2 seconds", fixed = TRUE)
})

test_that("lifecycle: restart, close, format, print, verbose", {
  skip_without_daemon()
  expect_message(s <- SecureSession$new(verbose = TRUE), "[securer] Session started", fixed = TRUE)
  expect_true(s$is_alive())
  expect_match(format(s), "^<SecureSession> \\[running\\] pid=NA sandbox=(full|partial) tools=0$")
  expect_message(print(s), "Status: running")
  expect_message(print(s), "Sandbox: (full|partial)")
  expect_message(s$execute("y <- 1"), "[securer] Execution complete", fixed = TRUE)
  expect_message(s$restart(), "[securer] Restarting session", fixed = TRUE)
  expect_error(suppressMessages(s$execute("y")), "not found")
  expect_message(s$close(), "[securer] Session closed", fixed = TRUE)
  s$close()
  expect_false(s$is_alive())
  expect_match(format(s), "stopped")
  expect_error(s$execute("1"), "Session is not running.", fixed = TRUE)
  s$restart()
  expect_true(s$is_alive())
  s$close()
})

test_that("sanitize_errors and sandbox options", {
  skip_without_daemon()
  s <- SecureSession$new(sanitize_errors = TRUE, sandbox = TRUE, limits = list(cpu = 10))
  on.exit(s$close())
  e <- tryCatch(s$execute("stop('at /home/u/x')"), error = identity)
  expect_equal(conditionMessage(e), "at [path]")
  expect_equal(class(e), c("simpleError", "error", "condition"))
  # Strict succeeds exactly when the daemon gives its full sandbox.
  st <- tryCatch(SecureSession$new(sandbox = TRUE, sandbox_strict = TRUE),
                 error = identity)
  if (inherits(st, "error")) {
    expect_match(conditionMessage(st), "^sandbox_strict is TRUE but the daemon cannot give")
  } else {
    expect_true(st$is_alive())
    expect_equal(st$execute("1"), 1)
    st$close()
  }
})

test_that("execute_r and with_secure_session", {
  skip_without_daemon()
  expect_equal(execute_r("1 + 2"), 3)
  r <- execute_r("cat('a\\n'); 5L")
  expect_identical(attr(r, "output"), "a")
  expect_identical(as.vector(r), 5L)
  kept <- NULL
  expect_equal(with_secure_session(function(s) { kept <<- s; s$execute("6") }), 6)
  expect_false(kept$is_alive())
  expect_error(with_secure_session(function(s) { kept <<- s; stop("inside") }), "inside")
  expect_false(kept$is_alive())
})

test_that("the audit log gets the session's events, 0600, no symlinks", {
  skip_without_daemon()
  d <- tempfile()
  dir.create(d)
  log <- file.path(d, "audit.jsonl")
  s <- SecureSession$new(audit_log = log, tools = list(securer_tool("f", "d", function() 1)))
  s$execute("f()")
  try(s$execute("stop('x')"), silent = TRUE)
  try(s$execute("Sys.sleep(3)", timeout = 0.5), silent = TRUE)
  s$close()
  ev <- vapply(readLines(log), function(l) jsonlite::fromJSON(l)$event, "")
  expect_equal(unname(ev), c("session_start", "execute_start", "tool_call", "tool_result",
                             "execute_complete", "execute_start", "execute_error",
                             "execute_start", "execute_timeout", "session_close"))
  expect_equal(as.character(file.mode(log)), "600")
  file.symlink(log, file.path(d, "link"))
  expect_error(SecureSession$new(audit_log = file.path(d, "link")), "audit_log path must not be a symlink", fixed = TRUE)
  unlink(d, recursive = TRUE)
})

test_that("$close() sends session.close, also after a timeout", {
  skip_without_daemon()
  # The daemon's own audit log, beside its socket (regress/daemon.subr).
  daudit <- file.path(dirname(Sys.getenv("SECURER_SOCKET")), "audit.jsonl")
  skip_if_not(file.exists(daudit), "no daemon audit log beside the socket")
  log <- tempfile(fileext = ".jsonl")
  s <- SecureSession$new(audit_log = log)
  id <- jsonlite::fromJSON(readLines(log)[1])$daemon_session
  expect_error(s$execute("Sys.sleep(3)", timeout = 0.5), "timed out")
  s$close()
  closes <- list()
  for (i in 1:40) {
    ev <- lapply(readLines(daudit), jsonlite::fromJSON)
    closes <- Filter(function(e) identical(e$event, "session_close") &&
                       identical(e$session, id), ev)
    if (length(closes)) break
    Sys.sleep(0.05)
  }
  expect_length(closes, 1)
  # "client": a session.close; a dropped connection is "client disconnected".
  expect_identical(closes[[1]]$reason, "client")
  # The daemon is still there.
  expect_equal(execute_r("1 + 1"), 2)
  unlink(log)
})

test_that("a private daemon is started when none answers", {
  skip_without_daemon()
  # Under the test's directory: regress/rpkg checks that none is left.
  # ([s]: pgrep must not find the shell that system2() runs it with.)
  xdg <- file.path(getwd(), "xdg")
  dir.create(xdg, mode = "0700")
  sock <- file.path(xdg, "securer", "securerd.sock")
  pids <- function() suppressWarnings(as.integer(system2("pgrep",
    c("-f", shQuote(paste("[s]ecurerd -I 600 -s", sock))), stdout = TRUE)))
  on.exit({
    tools::pskill(pids())
    unlink(xdg, recursive = TRUE)
  })
  script <- paste("library(securer)", "s <- SecureSession$new()",
                  "cat(s$execute('6 * 7'), '\\n')", "s$close()", sep = "; ")
  out <- system2(file.path(R.home("bin"), "Rscript"), c("-e", shQuote(script)),
                 env = c(paste0("SECURER_SOCKET=", file.path(xdg, "none.sock")),
                         paste0("XDG_RUNTIME_DIR=", xdg)),
                 stdout = TRUE, stderr = TRUE)
  expect_identical(out, "42 ")
  expect_true(file.exists(sock))
  p <- pids()
  expect_length(p, 1)
  tools::pskill(p)
  for (i in 1:100) if (length(pids())) Sys.sleep(0.05) else break
  expect_length(pids(), 0)
})
