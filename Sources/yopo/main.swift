print("yopo")
