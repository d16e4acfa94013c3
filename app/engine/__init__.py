"""The workflow engine: the only package that imports SpiffWorkflow.

Everything designer-supplied (XML, expressions, scripts) passes through the safety modules here
before the engine sees it, so no other layer needs to know how SpiffWorkflow parses or evaluates.
"""
