# The tools vignette: typed tools, errors, the legacy form, max_tool_calls.
library(securer)

get_weather <- securer_tool(
  name = "get_weather",
  description = "Get the weather for a city",
  fn = function(city) paste("Sunny in", city),
  args = list(city = "character")
)
calc <- securer_tool(
  name = "calculate",
  description = "Multiply two numbers",
  fn = function(x, y) x * y,
  args = list(x = "numeric", y = "numeric")
)
print(get_weather)

session <- SecureSession$new(tools = list(get_weather, calc))
session$execute('get_weather("Boston")')
session$execute("calculate(6, 7)")
session$execute("total <- 0; for (i in 1:10) total <- calculate(total + 1, 1); total")
str(session$tools())

tryCatch(session$execute('calculate("a", 2)'),
         error = function(e) cat("Type check failed\n"))

failing <- securer_tool("flaky", "Always fails", function() stop("service unavailable"))
s2 <- SecureSession$new(tools = list(failing))
tryCatch(s2$execute("flaky()"), error = function(e) cat("Error:", conditionMessage(e), "\n"))
s2$execute('tryCatch(flaky(), error = function(e) "recovered")')
s2$close()

tryCatch(session$execute("for (i in 1:10) calculate(1, 1)", max_tool_calls = 3),
         error = function(e) cat("Error:", conditionMessage(e), "\n"))
session$close()

# The legacy form: a named list of functions, with its deprecation warning.
withCallingHandlers(
  legacy <- SecureSession$new(tools = list(double_it = function(x) x * 2)),
  warning = function(w) { cat("Warning:", conditionMessage(w), "\n"); invokeRestart("muffleWarning") })
legacy$execute("double_it(21)")
legacy$close()

result <- execute_r("add(1, 2)", tools = list(
  securer_tool("add", "Add", function(a, b) a + b, list(a = "numeric", b = "numeric"))))
result
