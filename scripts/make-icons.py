#!/usr/bin/env python3
"""Draws the application icon (a white speech bubble with a medical cross on a
blue rounded square) and writes every size Tauri bundles need into icons/.
Run once after changing the design; the PNGs are committed (RGBA)."""
from pathlib import Path
from PIL import Image, ImageDraw

OUT = Path(__file__).resolve().parent.parent / "icons"
OUT.mkdir(exist_ok=True)
S = 1024

def draw(size: int) -> Image.Image:
    img = Image.new("RGBA", (S, S), (0, 0, 0, 0))
    d = ImageDraw.Draw(img)
    d.rounded_rectangle((40, 40, S - 40, S - 40), radius=220, fill=(37, 99, 235, 255))
    # speech bubble
    d.rounded_rectangle((200, 230, 824, 700), radius=150, fill=(255, 255, 255, 255))
    d.polygon([(330, 660), (300, 850), (480, 690)], fill=(255, 255, 255, 255))
    # medical cross
    c = (37, 99, 235, 255)
    d.rounded_rectangle((462, 330, 562, 600), radius=22, fill=c)
    d.rounded_rectangle((377, 415, 647, 515), radius=22, fill=c)
    return img.resize((size, size), Image.LANCZOS)

for name, size in [("32x32.png", 32), ("64x64.png", 64), ("128x128.png", 128), ("128x128@2x.png", 256), ("icon.png", 512),
                   ("Square30x30Logo.png", 30), ("Square44x44Logo.png", 44), ("Square71x71Logo.png", 71), ("Square89x89Logo.png", 89),
                   ("Square107x107Logo.png", 107), ("Square142x142Logo.png", 142), ("Square150x150Logo.png", 150),
                   ("Square284x284Logo.png", 284), ("Square310x310Logo.png", 310), ("StoreLogo.png", 50)]:
    draw(size).save(OUT / name)
big = draw(1024)
big.save(OUT / "icon.ico", sizes=[(16, 16), (24, 24), (32, 32), (48, 48), (64, 64), (128, 128), (256, 256)])
big.save(OUT / "icon.icns")
print("icons written to", OUT)
