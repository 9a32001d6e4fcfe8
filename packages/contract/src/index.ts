export { contract, badRequestData, type Contract } from './contract.js';
export * from './schemas.js';
