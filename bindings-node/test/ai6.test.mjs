// handrail/ai against `ai` 6 (installed as `ai6`, npm:ai@6), with its MockLanguageModelV3.
import * as ai from "ai6";
import * as aiTest from "ai6/test";

import { aiSuite } from "./ai-suite.mjs";

aiSuite(6, ai, aiTest);
