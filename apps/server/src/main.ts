#!/usr/bin/env tsx
import { runServerProcess } from './process.js';

await runServerProcess();
