/** NOTIFY channel for a namespace's appends. */
export function appendChannel(namespace: string): string {
  return `${namespace}.appended`;
}
