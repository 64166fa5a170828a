# The troubleshooting vignette's examples, as it gives them.
library(securer)

# "Socket connection timed out"
invisible(nchar(tempdir()))
Sys.setenv(TMPDIR = "/tmp")
session <- SecureSession$new()
session$close()

# "Session is not running"
session <- SecureSession$new(sandbox = TRUE)
session$is_alive()
session$close()
session <- SecureSession$new(sandbox = TRUE)
session$execute("1 + 1")
session$close()
session$is_alive()
tryCatch(session$execute("1"), error = function(e) cat("Error:", conditionMessage(e), "\n"))

# "Maximum executions (N) reached for this session"
session <- SecureSession$new(max_executions = 5)
for (i in 1:5) session$execute(sprintf("%d", i))
tryCatch(session$execute("6"), error = function(e) cat("Error:", conditionMessage(e), "\n"))
session$close()
session <- SecureSession$new(max_executions = 10)
session$close()
session <- SecureSession$new()
session$close()

# "Execution blocked by pre_execute_hook"
my_hook <- function(code) {
  if (grepl("system\\(", code)) return(FALSE)
  TRUE
}
my_hook("x <- 1 + 1")          # TRUE -- allowed
my_hook("system('whoami')")     # FALSE -- blocked
session <- SecureSession$new(pre_execute_hook = my_hook)
session$execute("x <- 1 + 1; x")
tryCatch(session$execute("system('whoami')"),
         error = function(e) cat("Error:", conditionMessage(e), "\n"))
session$close()

# Slow session startup
for (i in 1:100) {
  execute_r(paste("sqrt(", i, ")"))
}
session <- SecureSession$new()
for (i in 1:100) {
  session$execute(paste("sqrt(", i, ")"))
}
session$close()
pool <- SecureSessionPool$new(size = 4)
for (i in 1:100) {
  pool$execute(paste("sqrt(", i, ")"))
}
pool$close()

# "IPC authentication failed"
session <- SecureSession$new(verbose = TRUE)
session$close()

# "Audit log not written"
dir.create("logs", showWarnings = FALSE)
session <- SecureSession$new(
  audit_log = "logs/securer-audit.jsonl"
)
session$execute("1 + 1")
session$close()
readLines("logs/securer-audit.jsonl")
as.character(file.mode("logs/securer-audit.jsonl"))
