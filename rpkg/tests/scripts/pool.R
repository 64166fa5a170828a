# The pool examples: pre-warmed sessions, busy pools, recovery.
library(securer)

pool <- SecureSessionPool$new(size = 3)
print(pool$size())
results <- lapply(1:6, function(i) pool$execute(sprintf("%d^2", i)))
unlist(results)
pool$status()
format(pool)

tryCatch(pool$execute("Sys.sleep(5)", timeout = 1),
         error = function(e) cat("Error:", conditionMessage(e), "\n"))
pool$execute("'still works'")
pool$available()
pool$close()
tryCatch(pool$execute("1"), error = function(e) cat("Error:", conditionMessage(e), "\n"))

pool <- SecureSessionPool$new(size = 2, reset_between_uses = TRUE)
pool$execute("secret <- 1")
pool$execute("exists('secret')")
pool$close()

tools <- list(securer_tool("square", "Square a number", function(x) x^2, list(x = "numeric")))
pool <- SecureSessionPool$new(size = 2, tools = tools)
pool$execute("square(12)", acquire_timeout = 5)
pool$close()
