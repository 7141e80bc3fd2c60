/** The media feature's own SVG icons (no emoji font needed). */
type IconProps = { className?: string };

const base = (className?: string) => ({
  className: className ?? 'h-5 w-5',
  viewBox: '0 0 24 24',
  fill: 'none',
  stroke: 'currentColor',
  strokeWidth: 2,
  strokeLinecap: 'round' as const,
  strokeLinejoin: 'round' as const,
  'aria-hidden': true,
});

export function MicIcon({ className }: IconProps) {
  return (
    <svg {...base(className)}>
      <rect x="9" y="3" width="6" height="11" rx="3" />
      <path d="M5 11a7 7 0 0 0 14 0M12 18v3" />
    </svg>
  );
}

export function StopIcon({ className }: IconProps) {
  return (
    <svg {...base(className)}>
      <rect x="6" y="6" width="12" height="12" rx="1.5" fill="currentColor" />
    </svg>
  );
}

export function PlayIcon({ className }: IconProps) {
  return (
    <svg {...base(className)}>
      <path d="M7 4.5v15l12-7.5z" fill="currentColor" />
    </svg>
  );
}

export function AudioFileIcon({ className }: IconProps) {
  return (
    <svg {...base(className)}>
      <path d="M14 3H6v18h12V7z" />
      <path d="M14 3v4h4M10 17a1.5 1.5 0 1 1 0-3 1.5 1.5 0 0 1 0 3zM11.5 15.5V10l3 1" />
    </svg>
  );
}
