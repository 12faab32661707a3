#!/usr/bin/env node
/**
 * `handrail-mcp`: an MCP server over stdio that lets any MCP client (Claude Desktop, Cursor…)
 * reach a person through Handrail. Configured only by the environment: `HANDRAIL_URL`,
 * `HANDRAIL_API_KEY` (and `HANDRAIL_ENCRYPTION_KEY` for sealed payloads).
 *
 * No tool ever holds the client in a long call: many clients time out long tool calls, and
 * a person may take hours.
 *
 * Tools:
 * - `ask_human` `{ question, priority? }` → the person's answer as text:
 *   - when the client declares form elicitation (`elicitation: {}` or `{ form: {} }`), the
 *     question is put to its user at once (`elicitInput`, a one-field form) and their answer
 *     comes back (`DECLINED: …` / `CANCELLED: …` when they do not answer). A question is not
 *     an approval, so the client's own user may answer it;
 *   - otherwise a Handrail request (service `mcp`, action `ask_human`, payload
 *     `{ question, answer: "" }`) is opened and the tool answers as `request_approval` does
 *     (below: the decision page by URL elicitation when the client declares it, else
 *     `PENDING: do not act; request <id> …, decision page <link>; call check_approval …`).
 *     The person answers by editing `answer` in the dashboard; `check_approval` reads it.
 * - `request_approval` `{ service, action, payload, priority?, idempotency_key? }` opens a
 *   Handrail request at once and never waits for its decision:
 *   - when the client declares URL elicitation (`elicitation: { url: {} }`, MCP 2025-11-25),
 *     it sends the request's decision page through `elicitInput({ mode: "url" })`; once the
 *     client answers (the user opened the page, declined or cancelled; a failed or timed out
 *     elicitation counts as not opened), the request's status is read once: the decision
 *     text if a person decided meanwhile, else `PENDING: …`;
 *   - otherwise it answers `PENDING: do not act; request <id> …, decision page <link>; call
 *     check_approval with request_id "<id>" …` at once. A client that only declares form
 *     elicitation gets no form: the MCP client is driven by the agent, so nothing it answers
 *     may count as an approval, and a form whose "yes" decides nothing would mislead its user.
 *   Only a person deciding on Handrail (an operator, through the dashboard, the API, a
 *   channel) approves; an elicitation answer never does. With `idempotency_key` (say, the
 *   model's own tool call id), a retried call with the same key and the same values gets the
 *   first request back, decided or not, instead of opening a second one. (The MCP SDK passes
 *   the JSON-RPC id of each `tools/call`, but a client's retry is a new message with a new
 *   id, so that id cannot tell a retry from a new call.)
 * - `check_approval` `{ request_id }` → where a request stands now: `PENDING: …` again, the
 *   answer (for `ask_human`), the decision text (`APPROVED`, `APPROVED WITH EDITS: <changes>;
 *   use these values: <json>`, `REJECTED: <reason>`) or `EXPIRED: do not act`.
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

/** Whether a decided request is an `ask_human` question (its payload has `question` and `answer`). */
function isQuestion(decision: Decision): boolean {
  const payload = decision.payload as { question?: unknown; answer?: unknown } | null;
  return payload !== null && typeof payload === "object" && "question" in payload && "answer" in payload;
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

/** What the tool handlers get from the SDK besides the arguments (the part used here). */
interface Extra {
  signal: AbortSignal;
}

/** The Handrail MCP server (not yet connected): `ask_human`, `check_approval` and `request_approval`. */
export function createMcpServer(handrail: Handrail = new Handrail(), options: McpServerOptions = {}): McpServer {
  const server = new McpServer({ name: "handrail", version: "0.1.0" });
  const base = options.publicUrl ?? (process.env["HANDRAIL_PUBLIC_URL"] || process.env["HANDRAIL_URL"]);
  // The SDK reads an empty `elicitation: {}` as form support (the form-only spec before 2025-11-25).
  const elicits = (mode: "form" | "url"): boolean => server.server.getClientCapabilities()?.elicitation?.[mode] !== undefined;

  function pendingText(id: string): string {
    return (
      `${statusText("PENDING")}; request ${id} is waiting for a person, decision page ${decisionPage(id, base)}; ` +
      `call check_approval with request_id "${id}" to read the answer`
    );
  }

  /** The text of request `id` if it is decided or expired; `null` while it is pending. One read, no wait. */
  async function outcome(id: string, extra: Extra): Promise<string | null> {
    const status = await handrail.status(id, { signal: extra.signal });
    if (status === "PENDING") return null;
    let decision: Decision;
    try {
      // Decided (status said so): the wait answers at once; the bound only guards a stalled server.
      decision = await handrail.wait(id, { timeout: 10, signal: extra.signal });
    } catch (err) {
      if (err instanceof ExpiredError) return statusText("EXPIRED");
      throw err;
    }
    return isQuestion(decision) ? answerOf(decision) : decisionText(decision);
  }

  /** Where request `id` stands now, as a model reads it. */
  async function standing(id: string, extra: Extra): Promise<string> {
    return (await outcome(id, extra)) ?? pendingText(id);
  }

  let elicitations = 0;
  /**
   * The answer to a tool call that opened request `id` (or, on a retry with the same
   * idempotency key, found it): a request decided already reads as its decision; else, with
   * URL elicitation, the person is sent to the decision page and the status read once after;
   * else PENDING at once. What the client answers to the elicitation decides nothing (an
   * agent-driven client may answer anything): only the request's status on the server counts.
   */
  async function opened(id: string, message: string, keyed: boolean, extra: Extra): Promise<string> {
    if (keyed) {
      const known = await outcome(id, extra);
      if (known !== null) return known;
    }
    if (!elicits("url")) return pendingText(id);
    try {
      elicitations += 1;
      await server.server.elicitInput(
        // The id is unique in the session although a retry may send the same request again.
        { mode: "url", message, elicitationId: `${id}.${elicitations}`, url: decisionPage(id, base) },
        { signal: extra.signal },
      );
    } catch (err) {
      // A client that fails or times out the elicitation still gets the request to poll.
      if (extra.signal.aborted) throw err;
    }
    return standing(id, extra);
  }

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
      if (elicits("form")) {
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
      return text(await opened(id, `A question for you: ${question}`, false, extra));
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
    async ({ request_id }, extra) => text(await standing(request_id, extra)),
  );
  server.registerTool(
    "request_approval",
    {
      description:
        "Ask a person to approve an action before you take it. Answers at once: PENDING with " +
        "the request id (do not act; call check_approval later), or, when the person already " +
        "decided, APPROVED, APPROVED WITH EDITS (then use the values given), or REJECTED with " +
        "the reason (then do not take the action).",
      inputSchema: {
        service: z.string().describe("The system acted on, e.g. 'stripe' or 'gmail'."),
        action: z.string().describe("What you are about to do, e.g. 'refund'."),
        payload: z.record(z.string(), z.unknown()).describe("The exact values you will use."),
        priority,
        idempotency_key: z
          .string()
          .min(1)
          .max(200)
          .optional()
          .describe(
            "Optional, e.g. your tool call id: a retry with the same key and the same values gets " +
              "the same request back instead of opening a second one.",
          ),
      },
    },
    async ({ service, action, payload, priority, idempotency_key }, extra) => {
      const id = await handrail.defer({
        service,
        action,
        payload,
        signal: extra.signal,
        ...(priority !== undefined && { priority }),
        ...(idempotency_key !== undefined && { idempotencyScope: `mcp.request_approval:${idempotency_key}` }),
      });
      const message = `Approval needed: ${action} on ${service}. Approve, edit or reject it on the decision page.`;
      return text(await opened(id, message, idempotency_key !== undefined, extra));
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
