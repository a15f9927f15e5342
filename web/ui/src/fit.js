// The terminal's size. The page fits the terminal to its box, but never
// beyond what the gateway gives a session: it bounds each dimension of a
// caller's window at MAX_DIM (bridge.MaxWindowDim), so a terminal wider
// than that (a browser zoomed out on a large screen) would show more
// columns than the program behind the gateway was told, and line editing
// (readline's cursor moves over a long command line) and full-screen
// programs would draw in the wrong places (browser trial: 1104 columns
// in the page, 1024 in `stty size`).
export const MAX_DIM = 1024;

// boundedSize is the size to give the terminal for the dimensions the
// fit addon proposes ({cols, rows}, or undefined before the terminal is
// rendered): each bounded at MAX_DIM. null when there is nothing to fit.
export function boundedSize(dims) {
  if (!dims || !(dims.cols > 0) || !(dims.rows > 0)) return null;
  return { cols: Math.min(dims.cols, MAX_DIM), rows: Math.min(dims.rows, MAX_DIM) };
}
