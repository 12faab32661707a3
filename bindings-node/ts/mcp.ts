#!/usr/bin/env node
/**
 * `handrail-mcp`: an MCP server over stdio that lets any MCP client (Claude Desktop, Cursor…)
 * reach a person through Handrail. Configured only by the environment: `HANDRAIL_URL`,
 * `HANDRAIL_API_KEY` (and `HANDRAIL_ENCRYPTION_KEY` for sealed payloads).
 *
 * Tools:
 * - `ask_human` `{ question, priority? }` → the person's answer as text, never a long wait:
 *   - when the client declares the `elicitation` capability, the question is put to its
 *     user at once (`elicitInput`, a one-field form) and their answer comes back
 *     (`DECLINED: …` / `CANCELLED: …` when they do not answer);
 *   - otherwise a Handrail request (service `mcp`, action `ask_human`, payload
 *     `{ question, answer: "" }`) is opened and the tool answers at once
 *     `PENDING: do not act; request <id>, decision page <link>; call check_approval …`.
 *     The person answers by editing `answer` in the dashboard; `check_approval` reads it.
 * - `check_approval` `{ request_id }` → where a request stands now: `PENDING: …` again,
 *   the answer (for `ask_human`), the decision text (`APPROVED`, `APPROVED WITH EDITS: …`,
 *   `REJECTED: <reason>`) or `EXPIRED: do not act`.
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
import { ExpiredError, Handrail } from "./index.js";
import { decisionText, statusText } from "./text.js";

const priority = z.enum(["low", "medium", "high", "critical"]).optional().describe("How urgent. Default: medium.");

const text = (t: string) => ({ content: [{ type: "text" as const, text: t }] });

/** The answer text of an `ask_human` decision. */
function answerOf(decision: Decision): string {
  if (!decision.approved) return decisionText(decision);
  const answer = (decision.payload as { answer?: unknown } | null)?.answer;
  if (typeof answer === "string" && answer.trim() !== "") return answer;
  return decision.reason || "APPROVED";
}


/** Where the person decides request `id`: the dashboard's request page. */
function decisionPage(id: string, base: string | undefined): string {
  return `${(base ?? "").replace(/\/+$/, "")}/#/requests/${id}`;
}

/** What `createMcpServer` takes besides the client. */
export interface McpServerOptions {
  /**
   * The dashboard's address for decision page links. Default: `HANDRAIL_PUBLIC_URL`, else
   * `HANDRAIL_URL`.
   */
  publicUrl?: string;
}

/** The Handrail MCP server (not yet connected): `ask_human`, `check_approval` and `request_approval`. */
export function createMcpServer(handrail: Handrail = new Handrail(), options: McpServerOptions = {}): McpServer {
  const server = new McpServer({ name: "handrail", version: "0.1.0" });
  const base = options.publicUrl ?? (process.env["HANDRAIL_PUBLIC_URL"] || process.env["HANDRAIL_URL"]);
  server.registerTool(
    "ask_human",
    {
      description:
        "Ask a person a question. Use it when you need a fact, a preference or a go-ahead only " +
        "a person can give. If the answer is PENDING, call check_approval with the request id " +
        "later to read it.",
      inputSchema: { question: z.string().describe("The question, self-contained."), priority },
    },
    async ({ question, priority }, extra) => {
      if (server.server.getClientCapabilities()?.elicitation) {
        const reply = await server.server.elicitInput(
          {
            message: question,
            requestedSchema: {
              type: "object",
              properties: { answer: { type: "string", title: "Your answer" } },
              required: ["answer"],
            },
          },
          { signal: extra.signal },
        );
        const answer = reply.content?.["answer"];
        if (reply.action === "accept" && typeof answer === "string") return text(answer);
        return text(reply.action === "decline" ? "DECLINED: the person did not answer" : "CANCELLED: the person did not answer");
      }
      const id = await handrail.defer({
        service: "mcp",
        action: "ask_human",
        payload: { question, answer: "" },
        context: { question },
        signal: extra.signal,
        ...(priority !== undefined && { priority }),
      });
      return text(pendingText(id));
    },
  );
  server.registerTool(
    "check_approval",
    {
      description:
        "Read where a request to a person stands now: PENDING (ask again later), the person's " +
        "answer or decision, or EXPIRED.",
      inputSchema: { request_id: z.string().describe("The id a PENDING answer gave, req_…") },
    },
    async ({ request_id }, extra) => {
      const status = await handrail.status(request_id, { signal: extra.signal });
      if (status === "PENDING") return text(pendingText(request_id));
      let decision: Decision;
      try {
        // Decided (status said so): the wait answers at once; the bound only guards a stalled server.
        decision = await handrail.wait(request_id, { timeout: 10, signal: extra.signal });
      } catch (err) {
        if (err instanceof ExpiredError) return text(statusText("EXPIRED"));
        throw err;
      }
      const payload = decision.payload as { question?: unknown; answer?: unknown } | null;
      const asked = payload !== null && typeof payload === "object" && "question" in payload && "answer" in payload;
      return text(asked ? answerOf(decision) : decisionText(decision));
    },
  );

  function pendingText(id: string): string {
    return (
      `${statusText("PENDING")}; request ${id} is waiting for a person, decision page ${decisionPage(id, base)}; ` +
      `call check_approval with request_id "${id}" to read the answer`
    );
  }
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
