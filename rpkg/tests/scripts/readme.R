# securer 0.2.0's README: one-shot execution, a session with a tool,
# with_secure_session(), a pool.
library(securer)

result <- execute_r("1 + 1")
result

tools <- list(
  securer_tool(
    name = "add",
    description = "Add two numbers",
    fn = function(a, b) a + b,
    args = list(a = "numeric", b = "numeric")
  )
)
session <- SecureSession$new(tools = tools)
session$execute("add(2, 3)")
session$execute("x <- add(10, 20)")
session$execute("x * 2")
session$close()

with_secure_session(function(session) {
  session$execute("y <- 10")
  session$execute("y * 2")
})

pool <- SecureSessionPool$new(size = 2)
pool$execute("1 + 1")
pool$status()
pool$close()

validate_code("x <- 1 +")$valid
validate_code("system('ls')")$warnings
default_limits()$memory
