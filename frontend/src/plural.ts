/** "1 thread", "2 threads", "0 sessions": a count with its noun (irregular plurals passed in). */
export function plural(n: number, one: string, many = one + 's'): string {
  return `${n.toLocaleString('en')} ${n === 1 ? one : many}`;
}
