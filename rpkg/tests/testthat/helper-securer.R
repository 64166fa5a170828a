# The tests run against the daemon at SECURER_SOCKET (regress/rpkg starts
# a private one); without one, the tests that need it are skipped.
skip_without_daemon <- function() {
  s <- Sys.getenv("SECURER_SOCKET")
  if (!nzchar(s) || !file.exists(s)) skip("no securerd at SECURER_SOCKET")
}

# A daemon that died must fail the tests, not be replaced by a private one.
options(securer.autostart = FALSE)
