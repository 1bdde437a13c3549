// Shared body of the pages that later work will build out.
export function Placeholder({ title, children }: { title: string; children: string }) {
  return (
    <section class="page">
      <h1>{title}</h1>
      <p class="muted">{children}</p>
    </section>
  );
}
