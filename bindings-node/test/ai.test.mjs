// handrail/ai against `ai` 7 (the version `npm install ai` gives), with its MockLanguageModelV4.
import * as ai from "ai";
import * as aiTest from "ai/test";

import { aiSuite } from "./ai-suite.mjs";

aiSuite(7, ai, aiTest);
