/** A small activity indicator; the label is announced, the ring is decorative. */
export function Spinner({ label, className = 'h-4 w-4' }: { label?: string; className?: string }) {
  return (
    <span role={label ? 'status' : undefined} className="inline-flex items-center gap-2">
      <span
        aria-hidden="true"
        className={`${className} inline-block rounded-full border-2 border-current border-r-transparent motion-safe:animate-spin`}
      />
      {label && <span className="sr-only">{label}</span>}
    </span>
  );
}
