# The sessions vignette: persistent state, output, errors, timeouts,
# limits, verbose, restart.
library(securer)

session <- SecureSession$new()
session$execute("x <- 42")
session$execute("x + 1")

result <- session$execute('cat("hello\\n"); 1:3')
attr(result, "output")

tryCatch(
  session$execute("stop('something went wrong')"),
  error = function(e) cat("Error:", conditionMessage(e), "\n")
)

tryCatch(
  session$execute("Sys.sleep(10)", timeout = 1),
  error = function(e) cat("Error:", conditionMessage(e), "\n")
)
session$is_alive()
session$execute("1 + 1")

session$execute("for (i in 1:3) cat('line', i, '\\n'); 'done'",
                output_handler = function(line) cat("[stream]", line, "\n"))

session$restart()
session$execute("exists('x')")
session$close()
session$is_alive()

session <- SecureSession$new(sandbox = TRUE, limits = list(cpu = 10, memory = 1024^3))
session$execute("sum(1:100)")
session$close()

session <- SecureSession$new(verbose = TRUE)
session$execute("1")
session$close()

session <- SecureSession$new(sanitize_errors = TRUE)
tryCatch(session$execute("stop('cannot open /home/alice/secret.txt')"),
         error = function(e) cat(conditionMessage(e), "\n"))
session$close()
