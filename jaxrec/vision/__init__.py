"""Vision methods: subpixel edge localisation (`jaxrec.vision.edges`)."""
