#!/usr/bin/env node
/**
 * `handrail-mcp`: an MCP server over stdio that lets any MCP client (Claude Desktop, Cursor…)
 * reach a person through Handrail. Configured only by the environment: `HANDRAIL_URL`,
 * `HANDRAIL_API_KEY` (and `HANDRAIL_ENCRYPTION_KEY` for sealed payloads).
 *
 * Tools:
 * - `ask_human` `{ question, priority? }` → the person's answer as text. The request
 *   (service `mcp`, action `ask_human`) carries `{ question, answer: "" }`; the person
 *   answers by editing `answer` (or by writing a reason when approving). A rejection
 *   answers `REJECTED: <reason>`.
 * - `request_approval` `{ service, action, payload, priority? }` → the decision text:
 *   `APPROVED`, `APPROVED WITH EDITS: <changes>; use these values: <json>`, or
 *   `REJECTED: <reason>`.
 *
 * @packageDocumentation
 */
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { StdioServerTransport } from "@modelcontextprotocol/sdk/server/stdio.js";
import { z } from "zod";

import type { Decision } from "./client.js";
import { Handrail } from "./index.js";
import { decisionText } from "./text.js";

const priority = z.enum(["low", "medium", "high", "critical"]).optional().describe("How urgent. Default: medium.");

const text = (t: string) => ({ content: [{ type: "text" as const, text: t }] });

/** The answer text of an `ask_human` decision. */
function answerOf(decision: Decision): string {
  if (!decision.approved) return decisionText(decision);
  const answer = (decision.payload as { answer?: unknown } | null)?.answer;
  if (typeof answer === "string" && answer.trim() !== "") return answer;
  return decision.reason || "APPROVED";
}

/** The Handrail MCP server (not yet connected): `ask_human` and `request_approval`. */
export function createMcpServer(handrail: Handrail = new Handrail()): McpServer {
  const server = new McpServer({ name: "handrail", version: "0.1.0" });
  server.registerTool(
    "ask_human",
    {
      description:
        "Ask a person a question and wait for their answer. Use it when you need a fact, a " +
        "preference or a go-ahead only a person can give.",
      inputSchema: { question: z.string().describe("The question, self-contained."), priority },
    },
    async ({ question, priority }, extra) => {
      const decision = await handrail.ask({
        service: "mcp",
        action: "ask_human",
        payload: { question, answer: "" },
        context: { question },
        signal: extra.signal,
        ...(priority !== undefined && { priority }),
      });
      return text(answerOf(decision));
    },
  );
  server.registerTool(
    "request_approval",
    {
      description:
        "Ask a person to approve an action before you take it. Returns APPROVED, APPROVED " +
        "WITH EDITS (then use the values given), or REJECTED with the reason (then do not " +
        "take the action).",
      inputSchema: {
        service: z.string().describe("The system acted on, e.g. 'stripe' or 'gmail'."),
        action: z.string().describe("What you are about to do, e.g. 'refund'."),
        payload: z.record(z.string(), z.unknown()).describe("The exact values you will use."),
        priority,
      },
    },
    async ({ service, action, payload, priority }, extra) => {
      const decision = await handrail.ask({
        service,
        action,
        payload,
        signal: extra.signal,
        ...(priority !== undefined && { priority }),
      });
      return text(decisionText(decision));
    },
  );
  return server;
}

/** Runs the server on stdin/stdout until the client closes it. */
export async function main(): Promise<void> {
  const server = createMcpServer();
  await server.connect(new StdioServerTransport());
}

if (require.main === module) {
  main().catch((err: unknown) => {
    // stdout is the protocol channel: report on stderr.
    console.error("handrail-mcp:", err instanceof Error ? err.message : err);
    process.exit(1);
  });
}
