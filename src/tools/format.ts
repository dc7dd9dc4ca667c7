/**
 * Formats generated TypeScript with the project's Prettier settings, so generated files pass
 * `npm run lint` as written. Prettier is a dev dependency: loaded only when code is generated.
 */
export async function formatTypeScript(source: string, filePath: string): Promise<string> {
  const prettier = await import('prettier');
  const options = await prettier.resolveConfig(filePath);
  return prettier.format(source, { ...options, filepath: filePath });
}
