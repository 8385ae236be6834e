export { renderText, renderCoverageLine, renderLeftOutLine, type TextOptions } from './text.js';
export { renderJson, renderJsonChunks } from './json.js';
export { renderEcs, ndjsonLine, ECS_VERSION, ECS_EXTENSION_FIELDS } from './ecs.js';
export { printable } from './sanitize.js';
export { isoWithOffset } from '../model/iso-time.js';
