"""Opening vmintro images in other tools' frameworks."""
