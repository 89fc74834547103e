/** esbuild bundles the stylesheet imported by the entry point into the board's CSS file. */
declare module '*.css';
