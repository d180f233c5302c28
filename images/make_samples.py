#!/usr/bin/env python3
"""Makes the sample images of images/ from nothing but code, so they carry no
one else's rights: a synthetic scene with edges, gradients, fine stripes and
text — things a sharpen, blur or edge filter shows clearly. Deterministic."""
import numpy as np
from PIL import Image, ImageDraw

W, H = 640, 480
y, x = np.mgrid[0:H, 0:W].astype(np.float64)
r = 60 + 120 * x / W
g = 80 + 100 * y / H
b = 160 - 80 * (x + y) / (W + H)
img = np.stack([r, g, b], axis=-1)
# Concentric rings: frequencies from coarse to fine, aliasing shows blur.
d = np.hypot(x - 470, y - 150)
rings = (np.sin(d * d / 900.0) > 0) & (d < 120)
img[rings] = [235, 225, 200]
# Vertical stripes of rising frequency along the bottom.
stripe = np.sin(np.cumsum(np.linspace(0.05, 1.2, W))) > 0
band = (y > 400) & (y < 460)
img[band & stripe[None, :]] = [20, 20, 30]
rng = np.random.default_rng(20261125)
img += rng.normal(0, 4, img.shape)
im = Image.fromarray(np.clip(img, 0, 255).astype(np.uint8), "RGB")
dr = ImageDraw.Draw(im)
dr.rectangle([40, 60, 220, 200], fill=(200, 60, 50), outline=(255, 255, 255), width=3)
dr.ellipse([250, 220, 400, 370], fill=(40, 120, 200))
dr.polygon([(60, 360), (200, 250), (220, 380)], fill=(240, 200, 40))
for i in range(8):
    dr.line([(300 + i * 12, 40), (420 + i * 12, 200)], fill=(10, 10, 10), width=1 + i % 3)
dr.text((40, 20), "clconv sample: edges, rings, stripes", fill=(255, 255, 255))
im.save("shapes.png", optimize=True)
im.save("shapes.jpg", quality=90)
im.convert("L").resize((160, 120)).save("small-gray.png")
