"""FaceMood: facial-emotion recognition for student well-being.

The core package shared by the augmentation Lambda, the face Lambda, the training task
and the Streamlit app. Importing it is cheap: heavy dependencies are imported where used.
"""

__version__ = "0.1.0"
