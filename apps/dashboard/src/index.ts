export {
  createDashboardHandler,
  dashboardDistDir,
  isPageRoute,
  type DashboardHandler,
  type DashboardHandlerOptions,
} from './handler.js';
