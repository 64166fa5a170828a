// An MCP client built on the official TypeScript SDK, driving
// `securer mcp` over stdio: node client.mjs SECURER SOCKET TOOLS.JSON
import assert from "node:assert/strict";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";

const [securer, socket, tools] = process.argv.slice(2);
const transport = new StdioClientTransport({
	command: securer,
	args: ["mcp", "-s", socket, "--tools", tools],
	stderr: "inherit",
});
const client = new Client({ name: "securer-test", version: "1.0.0" });
await client.connect(transport);

const text = (r) => r.content.filter((c) => c.type === "text")
	.map((c) => c.text).join("");
const run = (code, extra = {}) => client.callTool({
	name: "execute_r_code", arguments: { code, ...extra } });

const listed = (await client.listTools()).tools.map((t) => t.name);
assert.deepEqual(listed.sort(), ["add", "execute_r_code", "reset_session"]);
console.log("tools:", listed.join(" "));

let r = await run("x <- 41; cat('set\\n')");
assert.equal(r.isError, false);
assert.equal(text(r), "set\n");
r = await run("x + 1");
assert.equal(text(r), "[1] 42\n");
console.log("state persists between calls");

r = await run("add(x, 1)");
assert.equal(text(r), "[1] 42\n");
r = await client.callTool({ name: "add", arguments: { a: 1, b: 2 } });
assert.equal(text(r), "3");
console.log("operator tool from R and from the model");

r = await run("stop('no such thing')");
assert.equal(r.isError, true);
assert.equal(text(r), "Error: no such thing\n");

r = await run("Sys.sleep(10)", { timeout: 0.5 });
assert.equal(r.isError, true);
assert.match(text(r), /timed out after 0.5 seconds/);
r = await run("exists('x')");
assert.equal(text(r), "[1] FALSE\n");
r = await run("1 + 1");
assert.equal(text(r), "[1] 2\n");
console.log("timeout, then the session answers again");

await run("y <- 1");
r = await client.callTool({ name: "reset_session", arguments: {} });
assert.equal(r.isError, false);
r = await run("exists('y')");
assert.equal(text(r), "[1] FALSE\n");
console.log("reset_session");

r = await run("plot(1:10, main = 'mcp'); 7");
assert.equal(r.isError, false);
assert.equal(text(r), "[1] 7\n");
const images = r.content.filter((c) => c.type === "image");
assert.equal(images.length, 1);
assert.equal(images[0].mimeType, "image/png");
const png = Buffer.from(images[0].data, "base64");
assert.deepEqual([...png.subarray(0, 8)],
	[0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
assert.ok(png.length > 1000);
r = await run("plot(1); stop('after a plot')");
assert.equal(r.isError, true);
assert.equal(r.content.filter((c) => c.type === "image").length, 1);
r = await run("1");
assert.equal(r.content.length, 1);
console.log("plots come back as image content");

await client.close();
console.log("ok");
