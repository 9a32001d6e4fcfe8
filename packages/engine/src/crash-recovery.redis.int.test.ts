import { describeCrashRecovery } from './testing/crash-recovery.js';

// One file per backend, so the two run in parallel (see testing/crash-recovery.ts).
describeCrashRecovery('redis');
