// Project instructions are Markdown written by admins; rendered with marked and sanitized with
// DOMPurify, so nothing an admin types can run as script in a worker's browser.
import DOMPurify from "dompurify";
import { marked } from "marked";
import { useMemo } from "react";

export function Markdown({ text, className }: { text: string; className?: string }) {
  const html = useMemo(() => DOMPurify.sanitize(marked.parse(text, { async: false }) as string), [text]);
  return <div className={className ?? "markdown"} dangerouslySetInnerHTML={{ __html: html }} />;
}
